package dev.lorastream.ingest;

import dev.lorastream.schemas.FinishReason;
import dev.lorastream.schemas.InferenceResult;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.util.Map;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The Micrometer meters of one {@link LoraClient}:
 *
 * <ul>
 *   <li>{@code lorastream.client.requests{outcome,code}} counter: one per finished request; outcome
 *       is {@code ok} (a completion), {@code error} (an error reply; code is its {@code
 *       ErrorCode}), {@code timeout}, {@code failed} (the send failed or the reply could not be
 *       decoded), {@code closed}, {@code cancelled} or {@code rejected} (invalid request); code is
 *       {@code none} unless outcome is {@code error}.
 *   <li>{@code lorastream.client.latency{outcome}} timer: submit to completion of the future.
 *   <li>{@code lorastream.client.pending} gauge: requests waiting for a reply.
 *   <li>{@code lorastream.client.replies.unmatched} counter: replies on the reply topic for no
 *       pending request of this client (another client's, or one that already timed out).
 *   <li>{@code lorastream.client.replies.foreign} counter: replies under the id of a pending
 *       request but for another tenant (or from another topic), ignored: the same id used by
 *       another tenant.
 * </ul>
 *
 * Thread-safe.
 */
final class ClientMetrics {
  static final String REQUESTS = "lorastream.client.requests";
  static final String LATENCY = "lorastream.client.latency";
  static final String PENDING = "lorastream.client.pending";
  static final String UNMATCHED = "lorastream.client.replies.unmatched";
  static final String FOREIGN = "lorastream.client.replies.foreign";

  private final MeterRegistry registry;
  private final Gauge pending;
  private final Counter unmatched;
  private final Counter foreign;

  ClientMetrics(MeterRegistry registry, Map<?, ?> pendingRequests) {
    this.registry = registry;
    this.pending =
        Gauge.builder(PENDING, pendingRequests, Map::size)
            .description("requests waiting for a reply")
            .strongReference(true)
            .register(registry);
    this.unmatched =
        Counter.builder(UNMATCHED)
            .description("replies that matched no pending request of this client")
            .register(registry);
    this.foreign =
        Counter.builder(FOREIGN)
            .description("replies under a pending request's id for another tenant, ignored")
            .register(registry);
  }

  void unmatchedReply() {
    unmatched.increment();
  }

  void foreignReply() {
    foreign.increment();
  }

  void rejected() {
    count("rejected", "none");
  }

  /** Records the end of one request: a result (completion or error reply) or a failure. */
  void finished(InferenceResult result, Throwable failure, long elapsedNanos) {
    String outcome;
    String code = "none";
    if (failure == null) {
      boolean error = result.getFinishReason() == FinishReason.ERROR;
      outcome = error ? "error" : "ok";
      if (error) {
        code = result.getErrorCode() == null ? "INTERNAL" : result.getErrorCode().name();
      }
    } else {
      outcome = outcomeOf(failure);
    }
    count(outcome, code);
    Timer.builder(LATENCY)
        .description("submit to reply")
        .tag("outcome", outcome)
        .register(registry)
        .record(elapsedNanos, TimeUnit.NANOSECONDS);
  }

  static String outcomeOf(Throwable failure) {
    Throwable t =
        failure instanceof CompletionException && failure.getCause() != null
            ? failure.getCause()
            : failure;
    return switch (t) {
      case TimeoutException e -> "timeout";
      case LoraClient.ClosedException e -> "closed";
      case CancellationException e -> "cancelled";
      default -> "failed";
    };
  }

  private void count(String outcome, String code) {
    Counter.builder(REQUESTS)
        .description("finished requests")
        .tag("outcome", outcome)
        .tag("code", code)
        .register(registry)
        .increment();
  }

  void close() {
    registry.remove(pending);
  }
}
