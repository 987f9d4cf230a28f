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
    // candidates sorted by logit, descending; ties broken by lower id
    Integer[] idx = new Integer[vocab];
    for (int i = 0; i < vocab; i++) {
      idx[i] = i;
    }
    Arrays.sort(
        idx,
        (a, b) -> {
          int c = Float.compare(logits[offset + b], logits[offset + a]);
          return c != 0 ? c : Integer.compare(a, b);
        });
    int keep = p.topK() > 0 ? Math.min(p.topK(), vocab) : vocab;
    // (logit - max) / T in double: never overflows (|logit| <= 3.4e38, T >= 1.4e-45 gives at most
    // 2.4e83), so any positive temperature, subnormal included, is safe; a tiny one puts all the
    // mass on the largest logit (greedy).
    double max = logits[offset + idx[0]];
    double temp = p.temperature();
    double[] prob = new double[keep];
    double sum = 0;
    for (int i = 0; i < keep; i++) {
      prob[i] = Math.exp((logits[offset + idx[i]] - max) / temp);
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
        return idx[i];
      }
    }
    return idx[n - 1];
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
