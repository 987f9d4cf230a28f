package dev.lorastream.engine.sample;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class SamplerTest {
  private static SamplingParams params(float temp, int topK, float topP, long seed) {
    return new SamplingParams(temp, topK, topP, seed, 10, List.of(), List.of());
  }

  @Test
  void greedyTakesTheLargestLogitAndTheLowestIdOnTies() {
    float[] logits = {0, 1, 5, 5, -3};
    assertEquals(2, Sampler.sample(logits, 0, 5, SamplingParams.greedy(1), 0));
  }

  @Test
  void readsTheRowAtTheOffset() {
    float[] logits = {9, 0, 0, 0, 0, 9};
    assertEquals(2, Sampler.sample(logits, 3, 3, SamplingParams.greedy(1), 0));
  }

  @Test
  void sameSeedAndStepGiveTheSameTokenAndOtherSeedsVary() {
    float[] logits = new float[50];
    SamplingParams p = params(1f, 0, 1f, 42);
    int first = Sampler.sample(logits, 0, 50, p, 3);
    for (int i = 0; i < 5; i++) {
      assertEquals(first, Sampler.sample(logits, 0, 50, p, 3));
    }
    Set<Integer> seen = new HashSet<>();
    for (long seed = 0; seed < 40; seed++) {
      seen.add(Sampler.sample(logits, 0, 50, params(1f, 0, 1f, seed), 3));
    }
    assertTrue(seen.size() > 10, "uniform logits over 40 seeds gave only " + seen);
  }

  @Test
  void topKOneIsGreedy() {
    float[] logits = {0.1f, 0.3f, 0.2f};
    for (long seed = 0; seed < 20; seed++) {
      assertEquals(1, Sampler.sample(logits, 0, 3, params(2f, 1, 1f, seed), 0));
    }
  }

  @Test
  void topPKeepsOnlyTheSmallestSetReachingP() {
    // probabilities ~ {0.867, 0.117, 0.016}: top_p 0.8 keeps only token 0
    float[] logits = {4, 2, 0};
    for (long seed = 0; seed < 30; seed++) {
      assertEquals(0, Sampler.sample(logits, 0, 3, params(1f, 0, 0.8f, seed), 0));
    }
    Set<Integer> seen = new HashSet<>();
    for (long seed = 0; seed < 200; seed++) {
      seen.add(Sampler.sample(logits, 0, 3, params(1f, 0, 0.95f, seed), 0));
    }
    assertEquals(Set.of(0, 1), seen);
  }

  @Test
  void temperatureDrawsFollowTheSoftmax() {
    float[] logits = {(float) Math.log(3), 0}; // p = 0.75, 0.25
    int zeros = 0;
    int n = 4000;
    for (int step = 0; step < n; step++) {
      if (Sampler.sample(logits, 0, 2, params(1f, 0, 1f, 7), step) == 0) {
        zeros++;
      }
    }
    assertEquals(0.75, zeros / (double) n, 0.03);
  }

  @Test
  void tinyPositiveTemperaturesPickTheGreedyTokenForEverySeed() {
    float[] logits = {0.5f, 3.25f, 3.2f, -7f, 1f};
    float[] temps = {1e-45f, Float.MIN_VALUE, 1e-40f, 1e-38f, Float.MIN_NORMAL, 1e-30f, 1e-3f};
    for (float t : temps) {
      for (long seed = 0; seed < 50; seed++) {
        for (int k : new int[] {0, 2}) {
          assertEquals(
              1, Sampler.sample(logits, 0, 5, params(t, k, 1f, seed), (int) seed), "T=" + t);
          assertEquals(1, Sampler.sample(logits, 0, 5, params(t, k, 0.5f, seed), 0), "T=" + t);
        }
      }
    }
  }

  @Test
  void tinyTemperatureWithHugeLogitsDoesNotOverflow() {
    // logit / T is 2.4e83 here: out of float range, in double range
    float[] logits = {-Float.MAX_VALUE, Float.MAX_VALUE, 3e38f, 0f};
    for (long seed = 0; seed < 20; seed++) {
      assertEquals(1, Sampler.sample(logits, 0, 4, params(Float.MIN_VALUE, 0, 1f, seed), 0));
    }
  }

  @Test
  void aTemperatureOfTheLogitGapSamplesBothTokens() {
    // the gap between 0 and the smallest subnormal is one temperature: p = 1/(1+e^-1) = 0.731
    float[] logits = {Float.MIN_VALUE, 0f};
    int zeros = 0;
    int n = 4000;
    for (int step = 0; step < n; step++) {
      if (Sampler.sample(logits, 0, 2, params(Float.MIN_VALUE, 0, 1f, 3), step) == 0) {
        zeros++;
      }
    }
    assertEquals(1 / (1 + Math.exp(-1)), zeros / (double) n, 0.03);
  }

  @Test
  void differentStepsGiveDifferentDraws() {
    assertNotEquals(Sampler.uniform(1, 0), Sampler.uniform(1, 1));
    assertNotEquals(Sampler.uniform(1, 0), Sampler.uniform(2, 0));
  }

  @Test
  void invalidParametersAreRefusedNamingTheValue() {
    var e = assertThrows(IllegalArgumentException.class, () -> params(-1f, 0, 1f, 0));
    assertTrue(e.getMessage().contains("temperature") && e.getMessage().contains("-1.0"));
    e = assertThrows(IllegalArgumentException.class, () -> params(1f, 0, 0f, 0));
    assertTrue(e.getMessage().contains("top_p"));
    e = assertThrows(IllegalArgumentException.class, () -> SamplingParams.greedy(0));
    assertTrue(e.getMessage().contains("max_tokens"));
  }

  /**
   * The sampler before its candidates became primitive keys: a boxed sort of every id by a
   * comparator. The new one must pick exactly what this picks.
   */
  private static int boxedReference(
      float[] logits, int offset, int vocab, SamplingParams p, int step) {
    Integer[] idx = new Integer[vocab];
    for (int i = 0; i < vocab; i++) {
      idx[i] = i;
    }
    java.util.Arrays.sort(
        idx,
        (a, b) -> {
          int c = Float.compare(logits[offset + b], logits[offset + a]);
          return c != 0 ? c : Integer.compare(a, b);
        });
    int keep = p.topK() > 0 ? Math.min(p.topK(), vocab) : vocab;
    double max = logits[offset + idx[0]];
    double[] prob = new double[keep];
    double sum = 0;
    for (int i = 0; i < keep; i++) {
      prob[i] = Math.exp((logits[offset + idx[i]] - max) / p.temperature());
      sum += prob[i];
    }
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
    double u = Sampler.uniform(p.seed(), step) * mass;
    double acc = 0;
    for (int i = 0; i < n; i++) {
      acc += prob[i];
      if (u < acc) {
        return idx[i];
      }
    }
    return idx[n - 1];
  }

  @org.junit.jupiter.params.ParameterizedTest(name = "topK={0} topP={1} T={2}")
  @org.junit.jupiter.params.provider.CsvSource({
    "0, 1.0, 1.0",
    "0, 0.9, 0.7",
    "40, 1.0, 1.0",
    "40, 0.95, 0.8",
    "1, 1.0, 1.0",
    "5000, 0.5, 2.0",
    "31999, 1.0, 0.3",
    "0, 0.1, 1e-30"
  })
  void picksExactlyWhatTheBoxedSortPicked(int topK, float topP, float temperature) {
    java.util.SplittableRandom rnd = new java.util.SplittableRandom(topK * 31L + 7);
    int vocab = 32000;
    float[] logits = new float[vocab + 3];
    for (int trial = 0; trial < 40; trial++) {
      for (int i = 0; i < logits.length; i++) {
        // coarse values: many exact ties; some -0.0 and 0.0
        logits[i] = (float) Math.round(rnd.nextGaussian() * 8) / 2f;
        if (rnd.nextInt(50) == 0) {
          logits[i] = rnd.nextBoolean() ? -0.0f : 0.0f;
        }
      }
      SamplingParams p =
          new SamplingParams(
              temperature,
              topK,
              topP,
              rnd.nextLong(),
              16,
              java.util.List.of(),
              java.util.List.of());
      for (int step = 0; step < 3; step++) {
        assertEquals(
            boxedReference(logits, 3, vocab, p, step),
            Sampler.sample(logits, 3, vocab, p, step),
            "trial " + trial + " step " + step);
      }
    }
  }
}
