package dev.lorastream.batcher;

import java.util.ArrayDeque;
import java.util.Deque;
import java.util.Objects;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse;

/**
 * What {@link BatcherApp} answers when a stream thread dies. A replaced thread resumes from the
 * last committed offset, so a failure that the same record causes again would be retried forever
 * while the partition stands still. The rules, in order:
 *
 * <ol>
 *   <li>an {@link Error} anywhere in the cause chain ({@code OutOfMemoryError}, {@code
 *       StackOverflowError}, ...) shuts the client down: the JVM may be damaged, and the record
 *       that caused it would cause it again;
 *   <li>a failure at the same record as the previous failures, more than {@code maxReplacements}
 *       times in a row, shuts the client down;
 *   <li>more than {@code maxReplacements} failures within {@code windowMs} shut the client down;
 *   <li>any other failure replaces the thread (e.g. a schema registry that cannot be reached for a
 *       moment: the record is retried from the committed offset).
 * </ol>
 *
 * <p>{@link StreamThreadExceptionResponse#SHUTDOWN_CLIENT} puts Kafka Streams in state ERROR; the
 * batcher process then exits non-zero ({@link BatcherMain}), so that an orchestrator restarts it
 * and its health reports DOWN meanwhile. Thread-safe; the decision depends only on its arguments
 * and the failures decided before.
 */
final class ThreadFailurePolicy {

  /**
   * A decision with the reason, for the log.
   *
   * @param response what Kafka Streams is told to do
   * @param reason why, naming the rule and the record
   */
  record Decision(StreamThreadExceptionResponse response, String reason) {}

  private final int maxReplacements;
  private final long windowMs;
  private final Deque<Long> recent = new ArrayDeque<>(); // times of failures within the window
  private String lastRecord;
  private int sameRecordFailures;

  /**
   * @param maxReplacements most replacements for failures at one record, and within {@code
   *     windowMs}; 0 = never replace
   * @param windowMs the window of the rate rule, in milliseconds
   */
  ThreadFailurePolicy(int maxReplacements, long windowMs) {
    if (maxReplacements < 0 || windowMs < 1) {
      throw new IllegalArgumentException(
          "maxReplacements " + maxReplacements + " < 0 or windowMs " + windowMs + " < 1");
    }
    this.maxReplacements = maxReplacements;
    this.windowMs = windowMs;
  }

  /**
   * @param failure what the stream thread died of
   * @param record the record it was processing ({@code topic-partition@offset}), or null when not
   *     known (a failure outside record processing: commit, punctuation, rebalance)
   * @param nowMs wall clock, epoch milliseconds
   */
  synchronized Decision decide(Throwable failure, String record, long nowMs) {
    Throwable error = firstError(failure);
    String at = record == null ? "" : " at " + record;
    if (error != null) {
      return shutdown(
          error.getClass().getName()
              + at
              + " is an Error, not retried: "
              + error.getMessage()
              + " (the process exits for a restart)");
    }
    if (record != null && record.equals(lastRecord)) {
      sameRecordFailures++;
    } else {
      lastRecord = record;
      sameRecordFailures = record == null ? 0 : 1;
    }
    recent.addLast(nowMs);
    while (!recent.isEmpty() && recent.peekFirst() <= nowMs - windowMs) {
      recent.removeFirst();
    }
    if (sameRecordFailures > maxReplacements) {
      return shutdown(
          "the stream thread failed "
              + sameRecordFailures
              + " times in a row"
              + at
              + " (at most "
              + maxReplacements
              + " replacements for one record): "
              + failure);
    }
    if (recent.size() > maxReplacements) {
      return shutdown(
          "the stream thread failed "
              + recent.size()
              + " times within "
              + windowMs
              + " ms (at most "
              + maxReplacements
              + " replacements)"
              + at
              + ": "
              + failure);
    }
    return new Decision(
        StreamThreadExceptionResponse.REPLACE_THREAD,
        "replacing the stream thread (failure "
            + recent.size()
            + " of at most "
            + maxReplacements
            + " within "
            + windowMs
            + " ms)"
            + at
            + ": "
            + failure);
  }

  private static Decision shutdown(String reason) {
    return new Decision(StreamThreadExceptionResponse.SHUTDOWN_CLIENT, reason);
  }

  /** The first {@link Error} in the cause chain (cycles cut), or null. */
  private static Throwable firstError(Throwable t) {
    for (int depth = 0; t != null && depth < 32; depth++, t = t.getCause()) {
      if (t instanceof Error) {
        return t;
      }
    }
    return null;
  }

  @Override
  public String toString() {
    return "ThreadFailurePolicy[maxReplacements="
        + maxReplacements
        + ", windowMs="
        + windowMs
        + ", lastRecord="
        + Objects.toString(lastRecord)
        + "]";
  }
}
