package dev.lorastream.consumer;

import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.apache.kafka.common.TopicPartition;

/**
 * One {@code lora.batches} record being served: its requests' result futures, and where it came
 * from so that its offset is committed in the same transaction as its results.
 *
 * @param results one per request, in row order; each completes with a result or an error result
 */
record InFlightBatch(
    TopicPartition partition,
    long offset,
    String batchId,
    List<InferenceRequest> requests,
    List<CompletableFuture<InferenceResult>> results) {

  boolean done() {
    for (CompletableFuture<InferenceResult> f : results) {
      if (!f.isDone()) {
        return false;
      }
    }
    return true;
  }
}
