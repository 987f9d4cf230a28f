package dev.lorastream.cli;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The requests of {@code bench pipeline}, S-LoRA style and deterministic in the seed: arrivals with
 * Gamma inter-arrival times (mean {@code 1/rate}, coefficient of variation {@code cv}), output
 * lengths ({@code maxTokens}) uniform in {@code [minTokens, maxTokens)} capped so that prompt plus
 * output fit the model's context, adapters drawn Zipf-popular (exponent {@code zipf}, rank 1 the
 * most popular) over all adapters of the demo fixtures; each request's tenant is its adapter's
 * owner, or for a public adapter one of the tenants drawn uniformly.
 *
 * @param items the requests in arrival order
 */
record PipelineWorkload(
    double rate, double cv, double zipf, int minTokens, int maxTokens, List<Item> items) {

  /**
   * One request.
   *
   * @param arrivalMs when it is sent, from the start of the run
   * @param promptTokens {@code [n]} the prompt's token ids (as the client's tokenizer gives them)
   */
  record Item(
      String id,
      String tenant,
      String adapter,
      String prompt,
      int[] promptTokens,
      int maxTokens,
      long seed,
      double arrivalMs) {}

  private static final String[] PROMPTS = {
    "The ", "def ", "# ", "This program ", "if [ ", "Copyright ", "import ", "You may "
  };

  PipelineWorkload {
    items = List.copyOf(items);
  }

  /**
   * @param adapters adapter ids in popularity order, each with its owner tenant (null = public)
   * @param encode prompt text to token ids
   * @param context the model's context (prompt plus output tokens)
   */
  static PipelineWorkload generate(
      int requests,
      double rate,
      double cv,
      double zipf,
      int minTokens,
      int maxTokens,
      List<String> adapterIds,
      java.util.Map<String, String> owners,
      List<String> tenants,
      java.util.function.Function<String, int[]> encode,
      int context,
      long seed) {
    SplittableRandom rnd = new SplittableRandom(seed);
    double[] cdf = zipfCdf(adapterIds.size(), zipf);
    double shape = 1 / (cv * cv); // Gamma: cv = 1/sqrt(shape), mean = shape * scale
    double scaleMs = 1000.0 / rate / shape;
    List<Item> items = new ArrayList<>(requests);
    double t = 0;
    for (int i = 0; i < requests; i++) {
      if (i > 0) {
        t += gamma(rnd, shape) * scaleMs;
      }
      String adapter = adapterIds.get(draw(cdf, rnd.nextDouble()));
      String owner = owners.get(adapter);
      String tenant = owner != null ? owner : tenants.get(rnd.nextInt(tenants.size()));
      String prompt = PROMPTS[rnd.nextInt(PROMPTS.length)];
      int[] tokens = encode.apply(prompt);
      int cap = context - tokens.length;
      int want = rnd.nextInt(minTokens, maxTokens);
      items.add(
          new Item(
              String.format("p%04d", i),
              tenant,
              adapter,
              prompt,
              tokens,
              Math.min(want, cap),
              rnd.nextLong(),
              t));
    }
    return new PipelineWorkload(rate, cv, zipf, minTokens, maxTokens, items);
  }

  /** {@code cdf[k]} = P(rank <= k+1) for Zipf ranks 1..n with exponent s. */
  static double[] zipfCdf(int n, double s) {
    double[] cdf = new double[n];
    double sum = 0;
    for (int k = 0; k < n; k++) {
      sum += 1 / Math.pow(k + 1, s);
      cdf[k] = sum;
    }
    for (int k = 0; k < n; k++) {
      cdf[k] /= sum;
    }
    return cdf;
  }

  private static int draw(double[] cdf, double u) {
    for (int k = 0; k < cdf.length; k++) {
      if (u < cdf[k]) {
        return k;
      }
    }
    return cdf.length - 1;
  }

  /**
   * A Gamma(shape, 1) draw: Marsaglia and Tsang (2000) for shape >= 1; for shape < 1, Gamma(shape +
   * 1) * U^(1/shape).
   */
  static double gamma(SplittableRandom rnd, double shape) {
    if (shape < 1) {
      return gamma(rnd, shape + 1) * Math.pow(rnd.nextDouble(), 1 / shape);
    }
    double d = shape - 1.0 / 3;
    double c = 1 / Math.sqrt(9 * d);
    while (true) {
      double x = normal(rnd);
      double v = 1 + c * x;
      if (v <= 0) {
        continue;
      }
      v = v * v * v;
      double u = rnd.nextDouble();
      if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) {
        return d * v;
      }
    }
  }

  private static double normal(SplittableRandom rnd) { // Box–Muller
    double u1 = 1 - rnd.nextDouble();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * rnd.nextDouble());
  }

  /** Total of the requested output lengths. */
  long requestedTokens() {
    return items.stream().mapToLong(Item::maxTokens).sum();
  }
}
