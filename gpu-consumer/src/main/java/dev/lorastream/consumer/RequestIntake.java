package dev.lorastream.consumer;

import dev.lorastream.engine.sample.SamplingParams;
import dev.lorastream.engine.sched.Engine;
import dev.lorastream.engine.sched.EngineLoop;
import dev.lorastream.engine.sched.GenerationRequest;
import dev.lorastream.schemas.ErrorCode;
import dev.lorastream.schemas.InferenceBatch;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.Priorities;
import dev.lorastream.schemas.SamplingRules;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.function.Function;
import java.util.function.LongSupplier;
import org.apache.kafka.common.TopicPartition;

/**
 * Turns the requests of a batch into engine submissions, with their priority and deadline (which
 * the engine enforces while they wait and run). A request that cannot run (no prompt, bad sampling
 * parameters or priority, deadline passed, prompt text the tokenizer fails on) gets its error
 * result at once; the engine answers the rest, errors included. Nothing one request holds makes
 * {@link #start} throw, so a bad request never stops the poll loop.
 */
final class RequestIntake {
  private final EngineLoop loop;
  private final Function<String, int[]> encode;
  private final String servedBy;
  private final ChunkStreamer streamer; // null: no streaming
  private final CancelReader cancels; // null: no cancels
  private final LongSupplier attempt;

  /**
   * @param encode prompt text to token ids (the model's tokenizer)
   */
  RequestIntake(EngineLoop loop, Function<String, int[]> encode, String servedBy) {
    this(loop, encode, servedBy, null, null, () -> 0);
  }

  /**
   * @param streamer writes each computed request's token chunks; null for none
   * @param cancels told which requests are being computed, so that their cancels apply; null for
   *     none
   * @param attempt the attempt number of requests taken now ({@code StreamChunk.attempt})
   */
  RequestIntake(
      EngineLoop loop,
      Function<String, int[]> encode,
      String servedBy,
      ChunkStreamer streamer,
      CancelReader cancels,
      LongSupplier attempt) {
    this.loop = loop;
    this.encode = encode;
    this.servedBy = servedBy;
    this.streamer = streamer;
    this.cancels = cancels;
    this.attempt = attempt;
  }

  /**
   * Submits every row of {@code batch} except the {@code answered} ones (their results were
   * committed before), whose futures are null.
   */
  InFlightBatch start(TopicPartition tp, long offset, InferenceBatch batch, BitSet answered) {
    long received = System.currentTimeMillis();
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
        Collections.unmodifiableList(results),
        batch.getCreatedEpochMs(),
        received);
  }

  /**
   * Cancels in the engine every request of {@code b} still being computed ({@link Engine#cancel}):
   * each leaves at the engine's next step, and its future completes with CANCELLED. Returns how
   * many were cancelled.
   */
  int cancel(InFlightBatch b) {
    int n = 0;
    for (int r = 0; r < b.requests().size(); r++) {
      CompletableFuture<InferenceResult> f = b.results().get(r);
      if (f != null && !f.isDone()) {
        InferenceRequest req = b.requests().get(r);
        loop.cancel(engineId(req.getTenantId(), req.getRequestId()));
        n++;
      }
    }
    return n;
  }

  /**
   * The engine's id ({@link GenerationRequest#id}, what {@link Engine#cancel} names) of a request:
   * its identity, (tenant, request id), in one string that no other pair gives (the tenant's length
   * first, so neither part needs escaping).
   */
  static String engineId(String tenantId, String requestId) {
    return tenantId.length() + ":" + tenantId + "/" + requestId;
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
    var bad =
        SamplingRules.problem(s) // the batcher's rules (it also caps maxTokens)
            .or(() -> Priorities.problem(req.getPriority()));
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
            s.getStopStrings(),
            s.getIgnoreEos());
    long submitEpochMs = System.currentTimeMillis();
    ChunkStreamer.Stream stream =
        streamer == null || !req.getStream() ? null : streamer.open(req, attempt.getAsLong());
    if (cancels != null) {
      cancels.track(req.getTenantId(), req.getRequestId());
    }
    return loop.submit(
            new GenerationRequest(
                engineId(req.getTenantId(), req.getRequestId()),
                tokens,
                req.getAdapterId(),
                params,
                req.getPriority(),
                deadline,
                req.getTenantId()),
            stream)
        .thenApply(
            r -> {
              InferenceResult result = Results.of(req, r, submitEpochMs, batchId, servedBy);
              if (cancels != null) {
                cancels.untrack(req.getTenantId(), req.getRequestId());
              }
              if (stream != null) {
                stream.finish(result);
              }
              return result;
            });
  }

  private CompletableFuture<InferenceResult> done(
      InferenceRequest req, ErrorCode code, String message, String batchId) {
    return CompletableFuture.completedFuture(Results.error(req, code, message, batchId, servedBy));
  }
}
