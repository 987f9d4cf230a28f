package dev.lorastream.gateway;

import dev.lorastream.schemas.InferenceResult;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The requests sent with {@code Prefer: respond-async}, by response id, until their results have
 * been kept for the retention time after they finished. In memory: a gateway that restarts forgets
 * them (the pipeline still computes them; their results stay on {@code lora.replies}). A request is
 * found only under the tenant that sent it. Thread-safe.
 */
final class AsyncRequests implements AutoCloseable {
  /** One request: who sent it, how to answer it, and its result's future. */
  record Entry(
      String tenant,
      Gateway.Shape shape,
      CompletableFuture<InferenceResult> result,
      AtomicLong finishedNanos) { // when it finished; 0 while pending
    boolean expired(long now, long retentionNanos) {
      long f = finishedNanos.get();
      return f != 0 && now - f > retentionNanos;
    }
  }

  private final Map<String, Entry> entries = new ConcurrentHashMap<>();
  private final Duration retention;
  private final int maxKept;
  private final ScheduledExecutorService sweeper;

  AsyncRequests(Duration retention, int maxKept) {
    this.retention = retention;
    this.maxKept = maxKept;
    ScheduledThreadPoolExecutor s =
        new ScheduledThreadPoolExecutor(
            1, r -> Thread.ofPlatform().daemon().name("gateway-async-sweeper").unstarted(r));
    long every = Math.max(100, Math.min(10_000, retention.toMillis() / 2));
    s.scheduleWithFixedDelay(this::sweep, every, every, TimeUnit.MILLISECONDS);
    this.sweeper = s;
  }

  /**
   * Keeps {@code result} under {@code id}.
   *
   * @return false when {@link #maxKept} requests are kept already (nothing is kept)
   */
  boolean add(
      String id, String tenant, Gateway.Shape shape, CompletableFuture<InferenceResult> result) {
    if (entries.size() >= maxKept) {
      sweep();
      if (entries.size() >= maxKept) {
        return false;
      }
    }
    AtomicLong finished = new AtomicLong();
    entries.put(id, new Entry(tenant, shape, result, finished));
    result.whenComplete((r, e) -> finished.set(System.nanoTime()));
    return true;
  }

  /** The request {@code id} if {@code tenant} sent it and it has not expired. */
  Optional<Entry> get(String id, String tenant) {
    Entry e = entries.get(id);
    if (e == null
        || !e.tenant().equals(tenant)
        || e.expired(System.nanoTime(), retention.toNanos())) {
      return Optional.empty();
    }
    return Optional.of(e);
  }

  int maxKept() {
    return maxKept;
  }

  Duration retention() {
    return retention;
  }

  private void sweep() {
    long now = System.nanoTime();
    entries.values().removeIf(e -> e.expired(now, retention.toNanos()));
  }

  @Override
  public void close() {
    sweeper.shutdownNow();
  }
}
