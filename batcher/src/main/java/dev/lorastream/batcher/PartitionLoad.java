package dev.lorastream.batcher;

import java.util.Arrays;
import java.util.function.LongSupplier;

/**
 * The work (tokens: prompts plus maxTokens) this batcher routed to each {@code lora.batches}
 * partition, decayed with a half-life of {@link #HALF_LIFE_MS}, and the bound they put on routing:
 * consistent hashing with bounded loads (Mirrokni, Thorup and Zadimoghaddam, SODA 2018; HAProxy's
 * {@code hash-balance-factor}). A partition whose count is at least {@code factor} times the mean
 * over all partitions is full; {@link View#bounded} moves a batch from a full partition to the next
 * one that is not (wrapping), so an adapter keeps its partition (and its consumer's warm cache)
 * while that partition carries no more than its share, and the overflow goes to a neighbour. With
 * partitions spread evenly over the group's consumers, no consumer gets more than {@code factor}
 * times the mean. Below {@link #MIN_WORK} tokens in the window nothing is full, so a lone request
 * is routed as by the hash. A batch's decisions are taken on one {@link #view} of the loads.
 *
 * <p>Each batcher counts only what it routed: several batchers each bound their own traffic. Called
 * by every stream thread; its methods are synchronized (a few array reads per batch).
 */
final class PartitionLoad {
  /** Half-life of the counts, ms. */
  static final long HALF_LIFE_MS = 10_000;

  /** Below this many (decayed) tokens of work over all partitions, nothing is full. */
  static final double MIN_WORK = 2048;

  /** No bound: {@link View#bounded} returns its partition, {@link #record} counts nothing. */
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

  /** Counts {@code work} tokens routed to {@code partition} of {@code n} now. */
  synchronized void record(int partition, long work, int n) {
    if (factor == 0 || partition < 0 || partition >= n) {
      return;
    }
    decay(n)[partition] += work;
  }

  /** The loads of partitions {@code 0..n-1} now, for one batch's decisions. */
  synchronized View view(int n) {
    if (factor == 0) {
      return View.UNBOUNDED;
    }
    double[] load = Arrays.copyOf(decay(n), n);
    double total = 0;
    for (double w : load) {
      total += w;
    }
    return new View(factor, load, total);
  }

  /**
   * The loads at one moment. Two stream threads routing at once each see the other's last batch or
   * not: a bound can be passed by a batch per thread, which a routing hint can afford.
   */
  record View(double factor, double[] load, double total) {
    static final View UNBOUNDED = new View(0, new double[0], 0);

    /** Whether {@code p} carries {@code factor} times the mean or more (nothing is, unbounded). */
    boolean full(int p) {
      return atLeast(p, factor);
    }

    /** Whether {@code p} carries the mean or more (nothing does, unbounded). */
    boolean atLeastMean(int p) {
      return atLeast(p, 1);
    }

    /** Whether {@code p} carries {@code times} the mean or more, past {@link #MIN_WORK} in all. */
    private boolean atLeast(int p, double times) {
      return factor > 0
          && total >= MIN_WORK
          && p >= 0
          && p < load.length
          && load[p] >= times * total / load.length;
    }

    /**
     * {@code p} when it is not full, else the first partition after it (wrapping) that is not; one
     * always exists, since not every partition can be above the mean.
     */
    int bounded(int p) {
      int n = load.length;
      for (int k = 0; k < n; k++) {
        int q = (p + k) % n;
        if (!full(q)) {
          return q;
        }
      }
      return p; // unreachable: the least loaded partition is at most the mean
    }
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
