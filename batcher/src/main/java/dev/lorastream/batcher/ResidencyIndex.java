package dev.lorastream.batcher;

import dev.lorastream.schemas.ConsumerResidency;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.LongSupplier;

/**
 * What the inference consumers last said they hold ({@code lora.residency}, {@link
 * ConsumerResidency}), for {@link AffinityPartitioner}: per consumer, its {@code lora.batches}
 * partitions and the adapters in its backend pool and in its host memory.
 *
 * <p>{@link #nearest} answers, for an adapter and its home partition, the first partition at or
 * after home (wrapping) whose owner holds the adapter in its backend pool, else the first whose
 * owner holds it in host memory, else -1. A record published more than {@code maxAgeMs} before now
 * (a consumer that died without its tombstone, or a batcher that fell behind on the topic) is
 * ignored; so is the whole index when {@code maxAgeMs} is 0. Both clocks are wall clocks: the
 * consumers' and the batchers' must agree to well within {@code maxAgeMs}.
 *
 * <p>Bounded load: residency must not undo scale-out. A consumer that joins the group holds no
 * adapter, so "follow the holder" alone would send it nothing while the old consumers keep every
 * adapter resident. So the batcher also counts the rows it routed to each partition ({@link
 * #routed}, decayed with a half-life of {@link #LOAD_HALF_LIFE_MS}), and a holder other than home's
 * owner is passed over while its consumer's share of those rows is at least {@link #LOAD_FACTOR}
 * times its fair share (its partitions over all of them): the batch then goes home, whose consumer
 * loads the adapter and holds it from then on. This is consistent hashing with bounded loads
 * (Mirrokni, Thorup, Zadimoghaddam, SODA 2018; HAProxy's {@code hash-balance-factor}), with the
 * partition count as the capacity. Below {@link #MIN_LOAD_ROWS} rows in the window nothing is
 * bounded.
 *
 * <p>{@link #update} is called by the reader thread, {@link #nearest} and {@link #routed} by stream
 * threads: the map holds immutable entries replaced whole; the load counts are guarded by their own
 * lock.
 */
final class ResidencyIndex {

  /** An index that knows nobody: every batch goes to its hash home. */
  static final ResidencyIndex NONE = new ResidencyIndex(0, () -> 0);

  private record Held(int[] partitions, Set<String> backend, Set<String> host, long publishedMs) {}

  /** A holder may take up to this times its fair share of the rows before home is preferred. */
  static final double LOAD_FACTOR = 1.25;

  /** Half-life of the routed-row counts, ms. */
  static final long LOAD_HALF_LIFE_MS = 10_000;

  /** Below this many (decayed) rows routed, holders are followed whatever their share. */
  static final double MIN_LOAD_ROWS = 16;

  private final Map<String, Held> consumers = new ConcurrentHashMap<>();
  private final long maxAgeMs;
  private final LongSupplier clock;
  private double[] rows = new double[0]; // per partition, decayed to rowsAtMs
  private long rowsAtMs;

  /**
   * @param maxAgeMs records older than this are ignored; 0 turns routing by residency off
   * @param clock the wall clock, epoch milliseconds
   */
  ResidencyIndex(long maxAgeMs, LongSupplier clock) {
    if (maxAgeMs < 0) {
      throw new IllegalArgumentException("maxAgeMs must be >= 0, not " + maxAgeMs);
    }
    this.maxAgeMs = maxAgeMs;
    this.clock = clock;
  }

  /** Whether routing by residency is on ({@code maxAgeMs > 0}). */
  boolean enabled() {
    return maxAgeMs > 0;
  }

  /** Replaces what {@code consumerId} holds; a null record (tombstone) forgets it. */
  void update(String consumerId, ConsumerResidency record) {
    if (record == null) {
      consumers.remove(consumerId);
      return;
    }
    int[] partitions =
        record.getBatchPartitions().stream().mapToInt(Integer::intValue).distinct().toArray();
    consumers.put(
        consumerId,
        new Held(
            partitions,
            Set.copyOf(record.getBackendAdapters()),
            Set.copyOf(record.getHostAdapters()),
            record.getPublishedEpochMs()));
  }

  /** Consumers currently known, fresh or not (for tests and metrics). */
  int size() {
    return consumers.size();
  }

  /**
   * The nearest partition at or after {@code home} (modulo {@code n}) whose owner holds {@code
   * adapterId}: a backend holder beats a host holder at any distance; -1 when no fresh record says
   * anyone holds it, or the index is off. Partitions {@code >= n} (a record from before the topic
   * grew or shrank) are skipped.
   */
  int nearest(String adapterId, int home, int n) {
    if (maxAgeMs == 0 || consumers.isEmpty()) {
      return -1;
    }
    long now = clock.getAsLong();
    long oldest = now - maxAgeMs;
    double[] load = rowsAt(now, n);
    double total = 0;
    for (double r : load) {
      total += r;
    }
    int bestBackend = Integer.MAX_VALUE; // distance from home
    int bestHost = Integer.MAX_VALUE;
    for (Held h : consumers.values()) {
      if (h.publishedMs < oldest) {
        continue;
      }
      boolean inBackend = h.backend.contains(adapterId);
      if (!inBackend && !h.host.contains(adapterId)) {
        continue;
      }
      boolean full = total >= MIN_LOAD_ROWS && overFairShare(h, load, total, n);
      for (int p : h.partitions) {
        if (p < 0 || p >= n) {
          continue;
        }
        int d = Math.floorMod(p - home, n);
        if (d != 0 && full) {
          continue; // bounded load: home's owner takes it (and loads the adapter)
        }
        if (inBackend) {
          bestBackend = Math.min(bestBackend, d);
        } else {
          bestHost = Math.min(bestHost, d);
        }
      }
    }
    int best = bestBackend != Integer.MAX_VALUE ? bestBackend : bestHost;
    return best == Integer.MAX_VALUE ? -1 : (home + best) % n;
  }

  /** Counts {@code batchRows} rows routed to {@code partition} (of {@code n}) now. */
  void routed(int partition, int batchRows, int n) {
    if (maxAgeMs == 0 || partition < 0 || partition >= n) {
      return;
    }
    synchronized (this) {
      double[] load = decayTo(clock.getAsLong(), n);
      load[partition] += batchRows;
    }
  }

  /** Whether {@code h}'s consumer has at least {@link #LOAD_FACTOR} times its fair share. */
  private static boolean overFairShare(Held h, double[] load, double total, int n) {
    double mine = 0;
    int owned = 0;
    for (int p : h.partitions) {
      if (p >= 0 && p < n) {
        mine += load[p];
        owned++;
      }
    }
    return mine >= LOAD_FACTOR * total * owned / n;
  }

  /** A copy of the routed-row counts of partitions {@code 0..n-1}, decayed to {@code now}. */
  private synchronized double[] rowsAt(long now, int n) {
    return decayTo(now, n).clone();
  }

  /** The counts decayed to {@code now} (in place; grown to {@code n} partitions). */
  private double[] decayTo(long now, int n) {
    if (rows.length < n) {
      rows = java.util.Arrays.copyOf(rows, n);
    }
    if (now > rowsAtMs) {
      double keep = Math.pow(0.5, (now - rowsAtMs) / (double) LOAD_HALF_LIFE_MS);
      for (int i = 0; i < rows.length; i++) {
        rows[i] *= keep;
      }
      rowsAtMs = now;
    }
    return n == rows.length ? rows : java.util.Arrays.copyOf(rows, n);
  }
}
