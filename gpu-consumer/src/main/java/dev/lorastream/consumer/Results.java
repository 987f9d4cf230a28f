package dev.lorastream.consumer;

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

  static InferenceResult of(InferenceRequest req, GenerationResult r, String batchId, String servedBy) {
    if (!r.ok()) {
      return error(req, ErrorCode.valueOf(r.errorCode()), r.errorMessage(), batchId, servedBy);
    }
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
            new Timings(r.queuedNanos() / 1_000_000, r.firstTokenNanos() / 1_000_000, r.totalNanos() / 1_000_000))
        .setBatchId(batchId)
        .setServedBy(servedBy)
        .build();
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
