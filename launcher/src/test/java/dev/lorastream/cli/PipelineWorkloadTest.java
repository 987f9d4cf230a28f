package dev.lorastream.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The S-LoRA-style workload of {@code bench pipeline}. */
class PipelineWorkloadTest {

  @Test
  void gammaDrawsHaveTheRequestedMeanAndCv() {
    for (double cv : new double[] {0.5, 1.0, 2.0}) {
      double shape = 1 / (cv * cv);
      SplittableRandom rnd = new SplittableRandom(1);
      int n = 200_000;
      double sum = 0;
      double sq = 0;
      for (int i = 0; i < n; i++) {
        double x = PipelineWorkload.gamma(rnd, shape);
        sum += x;
        sq += x * x;
      }
      double mean = sum / n;
      double sd = Math.sqrt(sq / n - mean * mean);
      assertEquals(shape, mean, 0.02 * shape, "mean at cv " + cv);
      assertEquals(cv, sd / mean, 0.03 * cv, "cv " + cv);
    }
  }

  @Test
  void zipfCdfOfThreeRanks() {
    double h = 1 + 0.5 + 1 / 3.0;
    double[] cdf = PipelineWorkload.zipfCdf(3, 1.0);
    assertEquals(1 / h, cdf[0], 1e-12);
    assertEquals(1.5 / h, cdf[1], 1e-12);
    assertEquals(1.0, cdf[2], 1e-12);
  }

  @Test
  void requestsAreSeedFixedCappedByTheContextAndSentToTheAdaptersOwner() {
    Map<String, String> owners = new java.util.LinkedHashMap<>();
    owners.put("a", "acme");
    owners.put("b", null);
    List<String> ids = List.of("a", "b");
    List<String> tenants = List.of("acme", "globex");
    PipelineWorkload w =
        PipelineWorkload.generate(
            500, 10, 1, 1, 8, 256, ids, owners, tenants, s -> new int[s.length()], 100, 3);
    PipelineWorkload again =
        PipelineWorkload.generate(
            500, 10, 1, 1, 8, 256, ids, owners, tenants, s -> new int[s.length()], 100, 3);
    assertEquals(
        w.items().stream().map(i -> i.id() + i.adapter() + i.maxTokens() + i.arrivalMs()).toList(),
        again.items().stream()
            .map(i -> i.id() + i.adapter() + i.maxTokens() + i.arrivalMs())
            .toList());
    assertEquals(0.0, w.items().getFirst().arrivalMs());
    for (PipelineWorkload.Item it : w.items()) {
      assertTrue(it.maxTokens() >= 8, "at least the minimum");
      assertTrue(it.promptTokens().length + it.maxTokens() <= 100, "fits the context");
      if (it.adapter().equals("a")) {
        assertEquals("acme", it.tenant());
      }
    }
    assertTrue(w.items().stream().anyMatch(i -> i.maxTokens() == 100 - i.promptTokens().length));
    long a = w.items().stream().filter(i -> i.adapter().equals("a")).count();
    // Zipf exponent 1 over 2 ranks: P(a) = 2/3
    assertEquals(2 / 3.0, a / 500.0, 0.05);
  }
}
