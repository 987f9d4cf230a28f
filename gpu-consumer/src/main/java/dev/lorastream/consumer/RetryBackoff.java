package dev.lorastream.consumer;

import java.util.function.LongSupplier;

/**
 * When the consumer may next try to commit after failed attempts: {@code initialMs} after the first
 * failure, doubling with each further one up to {@code maxMs}; a success resets it. A failure that
 * repeats (a cluster that cannot answer reply-topic lookups, a transaction that keeps aborting) is
 * then retried a few times a second at first and every {@code maxMs} after that, never in a hot
 * loop.
 *
 * <p>Not thread-safe: the poll thread owns it.
 */
final class RetryBackoff {
  private final long initialMs;
  private final long maxMs;
  private final LongSupplier clockMs;
  private int failures;
  private long notBeforeMs;

  /**
   * @param clockMs a monotonic clock in milliseconds
   */
  RetryBackoff(long initialMs, long maxMs, LongSupplier clockMs) {
    if (initialMs <= 0 || maxMs < initialMs) {
      throw new IllegalArgumentException(
          "backoff " + initialMs + ".." + maxMs + " ms: need 0 < initial <= max");
    }
    this.initialMs = initialMs;
    this.maxMs = maxMs;
    this.clockMs = clockMs;
    this.notBeforeMs = clockMs.getAsLong();
  }

  /** On the JVM's monotonic clock. */
  static RetryBackoff of(long initialMs, long maxMs) {
    return new RetryBackoff(initialMs, maxMs, () -> System.nanoTime() / 1_000_000);
  }

  /** Whether an attempt may be made now. */
  boolean ready() {
    return clockMs.getAsLong() >= notBeforeMs;
  }

  /** Records a failed attempt; returns how long the next one waits, in milliseconds. */
  long failed() {
    long wait =
        initialMs << Math.min(failures, 20); // 2^20 x initial is past any sane max: no overflow
    wait = Math.min(wait, maxMs);
    failures++;
    notBeforeMs = clockMs.getAsLong() + wait;
    return wait;
  }

  /** Records a successful attempt: the next failure waits {@code initialMs} again. */
  void succeeded() {
    failures = 0;
  }

  /** Failed attempts since the last success. */
  int failures() {
    return failures;
  }
}
