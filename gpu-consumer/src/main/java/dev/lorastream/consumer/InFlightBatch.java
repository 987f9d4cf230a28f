package dev.lorastream.consumer;

import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.apache.kafka.common.TopicPartition;

/**
 * One {@code lora.batches} record being served: its requests' result futures, and where it came
 * from so that each result is released with its partition's offset ({@link PartitionProgress}).
 *
 * @param results one per request, in row order; each completes with a result or an error result;
 *     null for a row answered before (named in the committed offset metadata), which is not
 *     computed again
 * @param closedEpochMs when the batcher closed the batch (its clock)
 * @param receivedEpochMs when this consumer took it into the engine
 */
record InFlightBatch(
    TopicPartition partition,
    long offset,
    String batchId,
    List<InferenceRequest> requests,
    List<CompletableFuture<InferenceResult>> results,
    long closedEpochMs,
    long receivedEpochMs) {

  /** A batch without times (0: not measured). */
  InFlightBatch(
      TopicPartition partition,
      long offset,
      String batchId,
      List<InferenceRequest> requests,
      List<CompletableFuture<InferenceResult>> results) {
    this(partition, offset, batchId, requests, results, 0, 0);
  }
}
