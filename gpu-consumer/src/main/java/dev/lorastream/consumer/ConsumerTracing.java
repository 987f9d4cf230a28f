package dev.lorastream.consumer;

import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.Timings;
import dev.lorastream.schemas.Tracing;
import io.opentelemetry.api.OpenTelemetry;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.context.Context;
import java.util.concurrent.TimeUnit;

/**
 * The consumer's spans of a traced request, written once its reply is committed, under the client's
 * span ({@link Tracing}): {@code batch} (the batcher closed the batch → this consumer read it),
 * {@code admission} (→ the engine scheduled the request), {@code prefill} (→ its first token),
 * {@code decode} (→ its last), {@code commit} (→ the transaction with its reply committed). Times
 * are this consumer's clock (the result's timings are offsets from the request's creation that this
 * consumer computed on its own clock), except the batch's closing (the batcher's clock). A request
 * answered without reaching the engine gets {@code batch} and {@code commit} only.
 */
final class ConsumerTracing {
  private final Tracer tracer;

  ConsumerTracing(OpenTelemetry openTelemetry) {
    this.tracer = openTelemetry.getTracer(Tracing.SCOPE);
  }

  void committed(InFlightBatch b, InferenceRequest req, InferenceResult r, long committedMs) {
    if (!(Tracing.parent(req.getTraceContext()) instanceof Tracing.Parent.Of(Context parent))) {
      return; // untraced, or malformed (counted by the batcher)
    }
    long received = b.receivedEpochMs();
    span(parent, "batch", b, req, Math.min(b.closedEpochMs(), received), received, null);
    long last = received;
    Timings t = r.getTimings();
    long created = req.getCreatedEpochMs();
    if (t != null && t.getQueueMs() > 0 && created > 0) {
      long scheduled = Math.max(last, created + t.getQueueMs());
      span(parent, "admission", b, req, last, scheduled, null);
      last = scheduled;
      if (t.getFirstTokenMs() > 0) {
        long first = Math.max(last, created + t.getFirstTokenMs());
        span(parent, "prefill", b, req, last, first, null);
        last = first;
      }
      if (t.getTotalMs() > 0) {
        long end = Math.max(last, created + t.getTotalMs());
        span(parent, t.getFirstTokenMs() > 0 ? "decode" : "prefill", b, req, last, end, null);
        last = end;
      }
    }
    span(parent, "commit", b, req, last, Math.max(last, committedMs), r);
  }

  private void span(
      Context parent,
      String name,
      InFlightBatch b,
      InferenceRequest req,
      long startMs,
      long endMs,
      InferenceResult result) {
    Span s =
        tracer
            .spanBuilder(name)
            .setParent(parent)
            .setStartTimestamp(startMs, TimeUnit.MILLISECONDS)
            .setAttribute(Tracing.TENANT, req.getTenantId())
            .setAttribute(Tracing.ADAPTER, req.getAdapterId() == null ? "" : req.getAdapterId())
            .setAttribute(Tracing.BATCH_ID, b.batchId())
            .startSpan();
    if (result != null && result.getErrorCode() != null) {
      s.setStatus(StatusCode.ERROR, result.getErrorCode().name());
    }
    s.end(endMs, TimeUnit.MILLISECONDS);
  }
}
