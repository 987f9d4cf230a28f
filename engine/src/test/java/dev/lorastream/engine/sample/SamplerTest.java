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
}
