package dev.lorastream.consumer;

import dev.lorastream.engine.sched.EngineError;
import dev.lorastream.engine.sched.GenerationResult;
import dev.lorastream.schemas.ErrorCode;
import dev.lorastream.schemas.FinishReason;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.Timings;
import dev.lorastream.schemas.Usage;
import java.util.ArrayList;
import java.util.List;

/** Builds the wire {@link InferenceResult} of a request from the engine's result or an error. */
final class Results {
  private Results() {}

  /**
   * The reply to {@code req} from the engine's result. Timings are measured from the request's
   * {@code createdEpochMs} (the schema's origin): the time before the engine saw it ({@code
   * submitEpochMs - createdEpochMs}, Kafka and batcher) plus the engine's own times from submit. A
   * {@code createdEpochMs} of 0 or below is no point in time a client meant (unset, or hostile:
   * {@code Long.MIN_VALUE} would overflow the subtraction), so the timings are then measured from
   * the consumer's submit. A positive one ahead of the consumer's clock (clock skew, up to {@code
   * Long.MAX_VALUE}) gives negative timings, as the schema says, and cannot overflow either: both
   * terms of the subtraction are positive.
   *
   * @param submitEpochMs when this consumer submitted the request to the engine (epoch
   *     milliseconds)
   */
  static InferenceResult of(
      InferenceRequest req,
      GenerationResult r,
      long submitEpochMs,
      String batchId,
      String servedBy) {
    if (!r.ok() && r.tokens().length == 0) {
      return error(req, code(r.errorCode()), r.errorMessage(), batchId, servedBy);
    }
    // a success, or an error met mid-generation (deadline, cancel) with the text so far
    long created = req.getCreatedEpochMs();
    long beforeSubmitMs = created > 0 ? submitEpochMs - created : 0;
    List<Integer> ids = new ArrayList<>(r.tokens().length);
    for (int t : r.tokens()) {
      ids.add(t);
    }
    return InferenceResult.newBuilder()
        .setRequestId(req.getRequestId())
        .setTenantId(req.getTenantId())
        .setAdapterId(req.getAdapterId())
        .setText(r.text())
        .setTokenIds(ids)
        .setFinishReason(
            switch (r.finishReason()) {
              case STOP -> FinishReason.STOP;
              case LENGTH -> FinishReason.LENGTH;
              case ERROR -> FinishReason.ERROR;
            })
        .setUsage(new Usage(r.promptTokens(), r.tokens().length))
        .setTimings(
            new Timings(
                beforeSubmitMs + r.queuedNanos() / 1_000_000,
                r.firstTokenNanos() == 0
                    ? 0
                    : beforeSubmitMs + r.firstTokenNanos() / 1_000_000, // 0: no token
                beforeSubmitMs + r.totalNanos() / 1_000_000))
        .setErrorCode(r.ok() ? null : code(r.errorCode()))
        .setErrorMessage(r.ok() ? null : r.errorMessage())
        .setBatchId(batchId)
        .setServedBy(servedBy)
        .build();
  }

  /**
   * The reply schema's code for an engine error: the one place the engine's vocabulary meets the
   * wire's. No default branch, so a new {@link EngineError} fails compilation here until it is
   * mapped.
   */
  static ErrorCode code(EngineError e) {
    return switch (e) {
      case UNKNOWN_ADAPTER -> ErrorCode.UNKNOWN_ADAPTER;
      case ADAPTER_INVALID -> ErrorCode.ADAPTER_INVALID;
      case PROMPT_TOO_LONG -> ErrorCode.PROMPT_TOO_LONG;
      case INVALID_PARAMS -> ErrorCode.INVALID_PARAMS;
      case INTERNAL -> ErrorCode.INTERNAL;
      case DEADLINE_EXCEEDED -> ErrorCode.DEADLINE_EXCEEDED;
      case CANCELLED -> ErrorCode.CANCELLED;
    };
  }

  static InferenceResult error(
      InferenceRequest req, ErrorCode code, String message, String batchId, String servedBy) {
    return InferenceResult.newBuilder()
        .setRequestId(req.getRequestId())
        .setTenantId(req.getTenantId())
        .setAdapterId(req.getAdapterId())
        .setFinishReason(FinishReason.ERROR)
        .setErrorCode(code)
        .setErrorMessage(message)
        .setUsage(new Usage(req.getPromptTokenIds().size(), 0))
        .setTimings(new Timings(0L, 0L, 0L))
        .setBatchId(batchId)
        .setServedBy(servedBy)
        .build();
  }
}
