package dev.lorastream.batcher;

import java.util.Arrays;
import java.util.function.LongSupplier;

/**
 * The work (tokens: prompts plus maxTokens) this batcher routed to each {@code lora.batches}
 * partition, decayed with a half-life of {@link #HALF_LIFE_MS}, and the bound they put on routing:
 * consistent hashing with bounded loads (Mirrokni, Thorup and Zadimoghaddam, SODA 2018; HAProxy's
 * {@code hash-balance-factor}). A partition whose count is at least {@code factor} times the mean
 * over all partitions is full; {@link #bounded} moves a batch from a full partition to the next one
 * that is not (wrapping), so an adapter keeps its partition (and its consumer's warm cache) while
 * that partition carries no more than its share, and the overflow goes to a neighbour. With
 * partitions spread evenly over the group's consumers, no consumer gets more than {@code factor}
 * times the mean. Below {@link #MIN_WORK} tokens in the window nothing is full, so a lone request
 * is routed as by the hash.
 *
 * <p>Each batcher counts only what it routed: several batchers each bound their own traffic. Called
 * by every stream thread; its methods are synchronized (a few array reads per batch).
 */
final class PartitionLoad {
  /** Half-life of the counts, ms. */
  static final long HALF_LIFE_MS = 10_000;

  /** Below this many (decayed) tokens of work over all partitions, nothing is full. */
  static final double MIN_WORK = 2048;

  /** No bound: {@link #bounded} returns its partition, {@link #record} counts nothing. */
  static final PartitionLoad NONE = new PartitionLoad(0, () -> 0);

  private final double factor;
  private final LongSupplier clock;
  private double[] work = new double[0];
  private long atMs;

  /**
   * @param factor a partition is full at this many times the mean ({@code > 1}); 0 = unbounded
   * @param clock milliseconds
   */
  PartitionLoad(double factor, LongSupplier clock) {
    if (factor != 0 && !(factor > 1)) {
      throw new IllegalArgumentException("factor must be 0 (off) or > 1, not " + factor);
    }
    this.factor = factor;
    this.clock = clock;
  }

  /** Whether loads are bounded at all. */
  boolean enabled() {
    return factor > 0;
  }

  /** Counts {@code work} tokens routed to {@code partition} of {@code n} now. */
  synchronized void record(int partition, long work, int n) {
    if (factor == 0 || partition < 0 || partition >= n) {
      return;
    }
    decay(n)[partition] += work;
  }

  /**
   * {@code partition} when it is not full, else the first partition after it (wrapping) that is
   * not; one always exists, since not every partition can be above the mean.
   */
  synchronized int bounded(int partition, int n) {
    if (factor == 0) {
      return partition;
    }
    double[] load = decay(n);
    double total = 0;
    for (int p = 0; p < n; p++) {
      total += load[p];
    }
    if (total < MIN_WORK) {
      return partition;
    }
    double cap = factor * total / n;
    for (int k = 0; k < n; k++) {
      int p = (partition + k) % n;
      if (load[p] < cap) {
        return p;
      }
    }
    return partition; // unreachable: the least loaded partition is at most the mean
  }

  /** Whether {@code partition} is full now (for the residency rule: skip a full holder). */
  synchronized boolean full(int partition, int n) {
    return bounded(partition, n) != partition;
  }

  /**
   * Whether {@code partition} carries at least the mean now (for the residency rule: a holder below
   * its share first). False when unbounded or below {@link #MIN_WORK}.
   */
  synchronized boolean atLeastMean(int partition, int n) {
    if (factor == 0 || partition < 0 || partition >= n) {
      return false;
    }
    double[] load = decay(n);
    double total = 0;
    for (int p = 0; p < n; p++) {
      total += load[p];
    }
    return total >= MIN_WORK && load[partition] >= total / n;
  }

  /** The counts of partitions {@code 0..n-1} decayed to now (in place; grown to {@code n}). */
  private double[] decay(int n) {
    if (work.length < n) {
      work = Arrays.copyOf(work, n);
    }
    long now = clock.getAsLong();
    if (now > atMs) {
      double keep = Math.pow(0.5, (now - atMs) / (double) HALF_LIFE_MS);
      for (int i = 0; i < work.length; i++) {
        work[i] *= keep;
      }
      atMs = now;
    }
    return work;
  }
}
