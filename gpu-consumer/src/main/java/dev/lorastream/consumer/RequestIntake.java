package dev.lorastream.consumer;

import dev.lorastream.engine.sample.SamplingParams;
import dev.lorastream.engine.sched.EngineLoop;
import dev.lorastream.engine.sched.GenerationRequest;
import dev.lorastream.schemas.ErrorCode;
import dev.lorastream.schemas.InferenceBatch;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.SamplingRules;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.function.Function;
import org.apache.kafka.common.TopicPartition;

/**
 * Turns the requests of a batch into engine submissions. A request that cannot run (no prompt, bad
 * sampling parameters, deadline passed, prompt text the tokenizer fails on) gets its error result
 * at once; the engine answers the rest, errors included. Nothing one request holds makes {@link
 * #start} throw, so a bad request never stops the poll loop.
 */
final class RequestIntake {
  private final EngineLoop loop;
  private final Function<String, int[]> encode;
  private final String servedBy;

  /**
   * @param encode prompt text to token ids (the model's tokenizer)
   */
  RequestIntake(EngineLoop loop, Function<String, int[]> encode, String servedBy) {
    this.loop = loop;
    this.encode = encode;
    this.servedBy = servedBy;
  }

  /**
   * Submits every row of {@code batch} except the {@code answered} ones (their results were
   * committed before), whose futures are null.
   */
  InFlightBatch start(TopicPartition tp, long offset, InferenceBatch batch, BitSet answered) {
    List<CompletableFuture<InferenceResult>> results = new ArrayList<>();
    List<InferenceRequest> requests = batch.getRequests();
    for (int r = 0; r < requests.size(); r++) {
      results.add(answered.get(r) ? null : submit(requests.get(r), batch.getBatchId()));
    }
    return new InFlightBatch(
        tp,
        offset,
        batch.getBatchId(),
        List.copyOf(requests),
        Collections.unmodifiableList(results));
  }

  CompletableFuture<InferenceResult> submit(InferenceRequest req, String batchId) {
    long deadline = req.getDeadlineEpochMs();
    if (deadline > 0 && System.currentTimeMillis() > deadline) {
      return done(
          req,
          ErrorCode.DEADLINE_EXCEEDED,
          "the deadline " + deadline + " passed before serving",
          batchId);
    }
    int[] tokens;
    if (!req.getPromptTokenIds().isEmpty()) {
      tokens = req.getPromptTokenIds().stream().mapToInt(Integer::intValue).toArray();
    } else if (req.getPrompt() != null && !req.getPrompt().isEmpty()) {
      try {
        tokens = encode.apply(req.getPrompt());
      } catch (RuntimeException e) {
        return done(
            req,
            ErrorCode.INTERNAL,
            "the tokenizer failed on the prompt text ("
                + req.getPrompt().length()
                + " chars): "
                + e,
            batchId);
      }
    } else {
      return done(
          req,
          ErrorCode.INVALID_PARAMS,
          "the request has neither prompt text nor prompt token ids",
          batchId);
    }
    var s = req.getSampling();
    var bad = SamplingRules.problem(s); // the batcher's rules (it also caps maxTokens)
    if (bad.isPresent()) {
      return done(req, ErrorCode.INVALID_PARAMS, bad.get(), batchId);
    }
    SamplingParams params =
        new SamplingParams(
            s.getTemperature(),
            s.getTopK(),
            s.getTopP(),
            s.getSeed(),
            s.getMaxTokens(),
            s.getStopTokenIds(),
            s.getStopStrings());
    long submitEpochMs = System.currentTimeMillis();
    return loop.submit(
            new GenerationRequest(req.getRequestId(), tokens, req.getAdapterId(), params))
        .thenApply(r -> Results.of(req, r, submitEpochMs, batchId, servedBy));
  }

  private CompletableFuture<InferenceResult> done(
      InferenceRequest req, ErrorCode code, String message, String batchId) {
    return CompletableFuture.completedFuture(Results.error(req, code, message, batchId, servedBy));
  }
}
