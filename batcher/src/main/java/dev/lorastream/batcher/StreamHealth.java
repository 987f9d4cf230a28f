package dev.lorastream.batcher;

import org.apache.kafka.streams.KafkaStreams;

/**
 * The batcher's health rule, a pure function of what it is told and the time it is asked at. The
 * batcher is healthy while Kafka Streams is RUNNING or REBALANCING and it is not stalled: stalled
 * means that its {@code lora.requests} partitions have pending input (committed offset below the
 * end offset) and no record was handled beyond the highest offset handled before ({@link
 * RecordTracker}) for {@code stallMs}, counted from the later of the last progress and the start of
 * the pending input. A thread that dies on one record and is replaced, again and again, leaves
 * Kafka Streams RUNNING; this rule reports it.
 *
 * <p>Thread-safe.
 */
final class StreamHealth {

  private final long stallMs;
  private long progressMs; // the later of the start and the last progress
  private boolean pending;
  private long pendingSinceMs;
  private String pendingWhat = "";

  /**
   * @param stallMs how long pending input may go without progress
   * @param startMs when the batcher started (counts as progress)
   */
  StreamHealth(long stallMs, long startMs) {
    if (stallMs < 1) {
      throw new IllegalArgumentException("stallMs " + stallMs + " < 1");
    }
    this.stallMs = stallMs;
    this.progressMs = startMs;
  }

  /** A record was handled beyond the highest offset before, at {@code nowMs}. */
  synchronized void progressed(long nowMs) {
    progressMs = Math.max(progressMs, nowMs);
  }

  /**
   * The pending input seen at {@code nowMs}.
   *
   * @param what for the reason: which partitions lag, by how much; ignored when not pending
   */
  synchronized void observed(long nowMs, boolean pendingNow, String what) {
    if (pendingNow && !pending) {
      pendingSinceMs = nowMs;
    }
    pending = pendingNow;
    pendingWhat = pendingNow ? what : "";
  }

  /** Null when healthy, else why not. */
  synchronized String downReason(KafkaStreams.State state, long nowMs) {
    if (!state.isRunningOrRebalancing()) {
      return "Kafka Streams is " + state;
    }
    if (pending) {
      long idle = nowMs - Math.max(progressMs, pendingSinceMs);
      if (idle >= stallMs) {
        return "no progress for "
            + idle
            + " ms with input pending ("
            + pendingWhat
            + "); "
            + BatcherConfig.HEALTH_STALL_MS
            + "="
            + stallMs;
      }
    }
    return null;
  }
}
