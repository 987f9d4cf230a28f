package dev.lorastream.engine.sample;

import java.util.Arrays;

/**
 * Picks the next token from one row of logits. Stateless: the random draw for the n-th generated
 * token of a request is a hash of (seed, n), so a request's output depends only on its own logits
 * and seed, never on what else shares the batch or on preemption and recompute.
 *
 * <p>Probabilities are {@code exp((logit - maxLogit) / T)} computed in double, so every positive
 * temperature is numerically safe: there is no lower bound, and a temperature so small that the
 * second-largest logit's term underflows (for example 1e-45, the smallest float) picks exactly the
 * greedy token (unless the top logits tie, when the tied tokens share the mass).
 */
public final class Sampler {
  private Sampler() {}

  /**
   * @param logits {@code [vocab]} starting at {@code offset} (read-only)
   * @param step index of the token being generated (0 for the first)
   */
  public static int sample(float[] logits, int offset, int vocab, SamplingParams p, int step) {
    if (p.isGreedy()) {
      return argmax(logits, offset, vocab);
    }
    int keep = p.topK() > 0 ? Math.min(p.topK(), vocab) : vocab;
    Scratch sc = SCRATCH.get();
    // candidates sorted by logit, descending; ties broken by lower id: the first `keep` of them
    long[] keys = candidates(logits, offset, vocab, keep, sc);
    // (logit - max) / T in double: never overflows (|logit| <= 3.4e38, T >= 1.4e-45 gives at most
    // 2.4e83), so any positive temperature, subnormal included, is safe; a tiny one puts all the
    // mass on the largest logit (greedy).
    double max = logits[offset + id(keys[0])];
    double temp = p.temperature();
    double[] prob = sc.prob(keep);
    double sum = 0;
    for (int i = 0; i < keep; i++) {
      prob[i] = Math.exp((logits[offset + id(keys[i])] - max) / temp);
      sum += prob[i];
    }
    // top-p: the smallest prefix whose mass reaches p (at least one token)
    int n = keep;
    if (p.topP() < 1f) {
      double cum = 0;
      for (int i = 0; i < keep; i++) {
        cum += prob[i] / sum;
        if (cum >= p.topP()) {
          n = i + 1;
          break;
        }
      }
    }
    double mass = 0;
    for (int i = 0; i < n; i++) {
      mass += prob[i];
    }
    double u = uniform(p.seed(), step) * mass;
    double acc = 0;
    for (int i = 0; i < n; i++) {
      acc += prob[i];
      if (u < acc) {
        return id(keys[i]);
      }
    }
    return id(keys[n - 1]);
  }

  /**
   * Per-thread buffers of {@link #sample}, grown to the largest vocabulary seen: a step samples
   * without allocating.
   */
  private static final class Scratch {
    long[] keys = new long[0];
    double[] prob = new double[0];

    long[] keys(int n) {
      if (keys.length < n) {
        keys = new long[n];
      }
      return keys;
    }

    double[] prob(int n) {
      if (prob.length < n) {
        prob = new double[n];
      }
      return prob;
    }
  }

  private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

  /**
   * A token's sort key: ascending keys are descending logits, ties by ascending id (the order of
   * {@code Float.compare} on the logits: -0.0 below 0.0, NaN above everything). The high half is
   * the logit's bits made monotone and inverted, the low half the id.
   */
  static long key(float logit, int id) {
    int b = Float.floatToIntBits(logit);
    int monotone = b ^ ((b >> 31) & 0x7fffffff); // increasing with the float
    return ((long) ~monotone << 32) | (id & 0xffffffffL);
  }

  static int id(long key) {
    return (int) key;
  }

  /**
   * The keys of the {@code keep} best tokens in order, in {@code sc}'s buffer: all of them sorted
   * when {@code keep} is most of the vocabulary, else a bounded max-heap of the {@code keep}
   * smallest keys (one pass, O(vocab log keep)) then sorted. Primitive longs: no boxing, no
   * comparator.
   */
  private static long[] candidates(float[] logits, int offset, int vocab, int keep, Scratch sc) {
    long[] k = sc.keys(vocab);
    if (keep * 8L >= vocab) {
      for (int i = 0; i < vocab; i++) {
        k[i] = key(logits[offset + i], i);
      }
      Arrays.sort(k, 0, vocab);
      return k;
    }
    int size = 0; // k[0..size) is a max-heap of the smallest keys seen
    for (int i = 0; i < vocab; i++) {
      long key = key(logits[offset + i], i);
      if (size < keep) {
        int c = size++;
        k[c] = key;
        while (c > 0 && k[(c - 1) >> 1] < k[c]) { // sift up
          int parent = (c - 1) >> 1;
          long t = k[parent];
          k[parent] = k[c];
          k[c] = t;
          c = parent;
        }
      } else if (key < k[0]) {
        k[0] = key;
        int c = 0;
        while (true) { // sift down
          int l = 2 * c + 1;
          if (l >= size) {
            break;
          }
          int big = l + 1 < size && k[l + 1] > k[l] ? l + 1 : l;
          if (k[big] <= k[c]) {
            break;
          }
          long t = k[big];
          k[big] = k[c];
          k[c] = t;
          c = big;
        }
      }
    }
    Arrays.sort(k, 0, keep);
    return k;
  }

  /** Index of the largest logit; the lowest id wins ties. */
  public static int argmax(float[] logits, int offset, int vocab) {
    int best = 0;
    float bestV = logits[offset];
    for (int i = 1; i < vocab; i++) {
      float v = logits[offset + i];
      if (v > bestV) {
        bestV = v;
        best = i;
      }
    }
    return best;
  }

  /** A uniform double in [0, 1) from (seed, step): SplitMix64 over the pair. */
  static double uniform(long seed, int step) {
    long z = seed * 0x9E3779B97F4A7C15L + (step + 1L) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    z = z ^ (z >>> 31);
    return (z >>> 11) * 0x1.0p-53;
  }
}
