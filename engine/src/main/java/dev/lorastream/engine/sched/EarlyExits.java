package dev.lorastream.engine.sched;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;

/**
 * Which queued or running sequences leave the engine before they finish: those named by a {@link
 * Engine#cancel} and those whose deadline has passed. {@link #cancel} and {@link #numberSubmit} are
 * thread-safe; {@link #due} runs on the engine thread, at the start of each step.
 */
final class EarlyExits {
  /** A sequence to end now, with its error code and message. */
  record Exit(Sequence seq, EngineError code, String message) {}

  /**
   * A cancel of every sequence named {@code id} submitted before it ({@code upTo}: their count).
   */
  private record Cancel(String id, long upTo) {}

  private final ConcurrentLinkedQueue<Cancel> cancels = new ConcurrentLinkedQueue<>();
  private final AtomicLong submitted = new AtomicLong(); // sequences numbered so far
  private final LongSupplier clockMs;
  private final EngineStats stats;

  /**
   * @param clockMs the wall clock in epoch milliseconds, against which deadlines are checked
   */
  EarlyExits(LongSupplier clockMs, EngineStats stats) {
    this.clockMs = clockMs;
    this.stats = stats;
  }

  /** Numbers a sequence being submitted, so that a later cancel of its id applies to it. */
  void numberSubmit(Sequence s) {
    s.submitOrder = submitted.incrementAndGet();
  }

  /** Cancels every sequence named {@code id} numbered before this call. */
  void cancel(String id) {
    cancels.add(new Cancel(id, submitted.get()));
  }

  /** Whether a cancel waits for the next {@link #due}. */
  boolean pending() {
    return !cancels.isEmpty();
  }

  long nowMs() {
    return clockMs.getAsLong();
  }

  /**
   * The sequences of {@code scheduler} to end now: cancelled ones first, then those past their
   * deadline, each once. Counts each cancel that found none in {@link EngineStats#cancelsIgnored}.
   */
  List<Exit> due(Scheduler scheduler) {
    Map<Sequence, Exit> exits = new LinkedHashMap<>();
    cancelled(scheduler, exits);
    expired(scheduler, exits);
    return new ArrayList<>(exits.values());
  }

  private void cancelled(Scheduler scheduler, Map<Sequence, Exit> exits) {
    if (cancels.isEmpty()) {
      return;
    }
    Map<String, List<Sequence>> byId = new HashMap<>();
    for (Iterable<Sequence> group : List.of(scheduler.running(), scheduler.waiting())) {
      for (Sequence s : group) {
        byId.computeIfAbsent(s.request.id(), k -> new ArrayList<>()).add(s);
      }
    }
    for (Cancel c; (c = cancels.poll()) != null; ) {
      int found = 0;
      for (Sequence s : byId.getOrDefault(c.id(), List.of())) {
        if (s.submitOrder <= c.upTo() && !exits.containsKey(s)) {
          String why = "cancelled after " + s.generated() + " generated tokens";
          exits.put(s, new Exit(s, EngineError.CANCELLED, why));
          stats.recordCancelled();
          found++;
        }
      }
      if (found == 0) {
        stats.recordCancelIgnored();
      }
    }
  }

  private void expired(Scheduler scheduler, Map<Sequence, Exit> exits) {
    long now = Long.MIN_VALUE; // read once, and only when a sequence has a deadline
    for (Iterable<Sequence> group : List.of(scheduler.running(), scheduler.waiting())) {
      for (Sequence s : group) {
        long deadline = s.request.deadlineEpochMs();
        if (deadline <= 0 || exits.containsKey(s)) {
          continue;
        }
        now = now == Long.MIN_VALUE ? clockMs.getAsLong() : now;
        if (now >= deadline) {
          String why =
              "the deadline "
                  + deadline
                  + " passed "
                  + (now - deadline)
                  + " ms ago, after "
                  + s.generated()
                  + " generated tokens";
          exits.put(s, new Exit(s, EngineError.DEADLINE_EXCEEDED, why));
          stats.recordDeadlineExceeded();
        }
      }
    }
  }
}
