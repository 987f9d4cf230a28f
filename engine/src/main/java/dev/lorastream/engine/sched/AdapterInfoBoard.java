package dev.lorastream.engine.sched;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * Where the engine thread publishes the per-adapter snapshot ({@link AdapterInfo}) for other
 * threads: recomputed at most once per interval, since it walks every queued and running sequence.
 * The published list is immutable and replaced whole, so a reader always sees one consistent
 * snapshot.
 */
final class AdapterInfoBoard {
  private static final Comparator<AdapterInfo> BUSIEST_FIRST =
      Comparator.comparingInt(AdapterInfo::requests)
          .reversed()
          .thenComparing(AdapterInfo::adapterId);

  private final long intervalMs;
  private volatile List<AdapterInfo> latest = List.of();
  private volatile Consumer<List<AdapterInfo>> listener;
  private boolean published; // engine thread only, as is lastMs
  private long lastMs;
  private long listenerFailures;

  /**
   * @param intervalMs the least time between two recomputations ({@link
   *     AdapterInfo#INTERVAL_MS_PROPERTY}); 0 recomputes at every step
   */
  AdapterInfoBoard(long intervalMs) {
    if (intervalMs < 0) {
      throw new IllegalArgumentException(
          AdapterInfo.INTERVAL_MS_PROPERTY + " must be at least 0, not " + intervalMs);
    }
    this.intervalMs = intervalMs;
  }

  /** The snapshot last published (empty before the first). Thread-safe. */
  List<AdapterInfo> latest() {
    return latest;
  }

  /** Tells {@code l} (null: nobody) of each snapshot published from now on. Thread-safe. */
  void listener(Consumer<List<AdapterInfo>> l) {
    this.listener = l;
  }

  /**
   * Whether a snapshot is due at {@code nowMs}: none was published yet, the interval has passed, or
   * the clock went back. Engine thread only.
   */
  boolean due(long nowMs) {
    long since = nowMs - lastMs;
    return !published || since >= intervalMs || since < 0;
  }

  /**
   * Publishes {@code snapshot} (taken at {@code nowMs}) and tells the listener, on this thread. A
   * listener that throws does not stop the engine: the first failure is printed, later ones only
   * counted. Engine thread only.
   */
  List<AdapterInfo> publish(List<AdapterInfo> snapshot, long nowMs) {
    latest = snapshot;
    published = true;
    lastMs = nowMs;
    Consumer<List<AdapterInfo>> l = listener;
    if (l != null) {
      try {
        l.accept(snapshot);
      } catch (RuntimeException e) {
        if (listenerFailures++ == 0) {
          System.err.println(
              "the adapter info listener failed (the engine goes on; later failures are not"
                  + " printed): "
                  + e);
        }
      }
    }
    return snapshot;
  }

  /**
   * The snapshot of the sequences given: per adapter id (base-model sequences left out) its running
   * and waiting sequences and {@code tierOf} it, busiest adapter first (running plus waiting), then
   * by id.
   *
   * @param running the admitted sequences
   * @param waiting the queued ones, and those submitted but not yet taken in by a step
   */
  static List<AdapterInfo> snapshot(
      Iterable<Sequence> running,
      List<Iterable<Sequence>> waiting,
      Function<String, AdapterInfo.Tier> tierOf) {
    Map<String, int[]> counts = new TreeMap<>(); // id -> {running, waiting}
    for (Sequence s : running) {
      count(counts, s, 0);
    }
    for (Iterable<Sequence> w : waiting) {
      for (Sequence s : w) {
        count(counts, s, 1);
      }
    }
    List<AdapterInfo> out = new ArrayList<>(counts.size());
    counts.forEach((id, c) -> out.add(new AdapterInfo(id, c[0], c[1], tierOf.apply(id))));
    out.sort(BUSIEST_FIRST);
    return List.copyOf(out);
  }

  private static void count(Map<String, int[]> counts, Sequence s, int which) {
    String id = s.request.adapterId();
    if (id != null) {
      counts.computeIfAbsent(id, k -> new int[2])[which]++;
    }
  }
}
