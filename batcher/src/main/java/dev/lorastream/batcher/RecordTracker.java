package dev.lorastream.batcher;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.LongSupplier;

/**
 * What the stream threads are doing with {@code lora.requests} records, for {@link
 * ThreadFailurePolicy} and {@link StreamHealth}: the record each thread is processing (so that a
 * thread's failure can be pinned on the record it was processing), and when a record was last
 * handled beyond the highest offset handled before on its partition (progress: re-processing
 * records of an aborted transaction after a thread replacement is not progress).
 *
 * <p>{@link DecodeProcessor} calls {@link #begin} before a record and {@link #done} once the record
 * and everything downstream of it returned; a record whose processing throws stays "in flight" on
 * its thread, where the uncaught-exception handler (called on the failing stream thread) reads it
 * with {@link #inFlight}. Thread-safe.
 */
final class RecordTracker {

  private final LongSupplier clockMs;
  private final ThreadLocal<String> inFlight = new ThreadLocal<>();
  private final Map<String, Long> highestDone = new ConcurrentHashMap<>(); // "topic-partition"
  private volatile long lastProgressMs = -1;

  /**
   * @param clockMs wall clock in epoch milliseconds
   */
  RecordTracker(LongSupplier clockMs) {
    this.clockMs = clockMs;
  }

  /** The calling thread starts on a record. */
  void begin(String topic, int partition, long offset) {
    inFlight.set(topic + "-" + partition + "@" + offset);
  }

  /**
   * The calling thread is through with the record it began (decoded, dead-lettered or rejected).
   */
  void done(String topic, int partition, long offset) {
    inFlight.remove();
    Long before = highestDone.get(topic + "-" + partition);
    if (before == null || offset > before) {
      highestDone.merge(topic + "-" + partition, offset, Math::max);
      lastProgressMs = clockMs.getAsLong();
    }
  }

  /** The record the calling thread began and did not finish ({@code topic-partition@offset}). */
  String inFlight() {
    return inFlight.get();
  }

  /** Epoch milliseconds of the last progress, or -1 when there was none yet. */
  long lastProgressMs() {
    return lastProgressMs;
  }
}
