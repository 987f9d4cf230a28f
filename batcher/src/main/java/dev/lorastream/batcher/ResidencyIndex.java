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
 * owner holds it in host memory, else -1; given the partitions' loads, it passes over holders
 * loaded past their share. A record published more than {@code maxAgeMs} before now (a consumer
 * that died without its tombstone, or a batcher that fell behind on the topic) is ignored; so is
 * the whole index when {@code maxAgeMs} is 0. Both clocks are wall clocks: the consumers' and the
 * batchers' must agree to well within {@code maxAgeMs}.
 *
 * <p>{@link #update} is called by the reader thread, {@link #nearest} by stream threads: the map
 * holds immutable entries replaced whole.
 */
final class ResidencyIndex {

  /** An index that knows nobody: every batch goes to its hash home. */
  static final ResidencyIndex NONE = new ResidencyIndex(0, () -> 0);

  private record Held(int[] partitions, Set<String> backend, Set<String> host, long publishedMs) {}

  private final Map<String, Held> consumers = new ConcurrentHashMap<>();
  private final long maxAgeMs;
  private final LongSupplier clock;

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
    return nearest(adapterId, home, n, PartitionLoad.View.UNBOUNDED);
  }

  /**
   * As {@link #nearest(String, int, int)}, with {@code loads}: residency must not undo scale-out. A
   * consumer that joins the group holds no adapter while those there hold them all; following
   * holders alone would send it nothing. Within a tier (backend pool, then host memory), the
   * nearest holder's partition below the mean ({@link PartitionLoad.View#atLeastMean}), else the
   * nearest that is not {@link PartitionLoad.View#full}; home is a holder's partition like any
   * other.
   */
  int nearest(String adapterId, int home, int n, PartitionLoad.View loads) {
    if (maxAgeMs == 0 || consumers.isEmpty()) {
      return -1;
    }
    long oldest = clock.getAsLong() - maxAgeMs;
    // distance from home, per tier: [backend under its share, backend not full, host ..., host ...]
    int[] best = {Integer.MAX_VALUE, Integer.MAX_VALUE, Integer.MAX_VALUE, Integer.MAX_VALUE};
    for (Held h : consumers.values()) {
      if (h.publishedMs < oldest) {
        continue;
      }
      int tier;
      if (h.backend.contains(adapterId)) {
        tier = 0;
      } else if (h.host.contains(adapterId)) {
        tier = 2;
      } else {
        continue;
      }
      for (int p : h.partitions) {
        if (p < 0 || p >= n) {
          continue;
        }
        int d = Math.floorMod(p - home, n);
        if (d < best[tier] && !loads.atLeastMean(p)) {
          best[tier] = d;
        }
        if (d < best[tier + 1] && !loads.full(p)) {
          best[tier + 1] = d;
        }
      }
    }
    for (int d : best) {
      if (d != Integer.MAX_VALUE) {
        return (home + d) % n;
      }
    }
    return -1;
  }
}
