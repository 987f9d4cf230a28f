package dev.lorastream.cli;

import dev.lorastream.bench.Stats;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * What one run of one path of {@code bench pipeline} measured (times in ms, from the request's
 * send).
 *
 * @param path {@code kafka} or {@code engine}
 * @param tokPerS generated tokens over the run's wall time (first send to last reply)
 * @param deliveryLagP50 reply seen by the read_committed client minus the consumer's last-token
 *     time (NaN on the engine path, which has no delivery)
 * @param shortQuartileP50 p50 end-to-end latency of the requests in the shortest quartile by
 *     requested output length
 */
record PipelineRun(
    String path,
    int rep,
    int requests,
    int errors,
    long generated,
    double wallS,
    double tokPerS,
    double ttftP50,
    double ttftP99,
    double e2eP50,
    double e2eP99,
    double deliveryLagP50,
    double deliveryLagP99,
    double shortQuartileP50) {

  /**
   * One request's figures.
   *
   * @param ttftMs first token seen (Kafka: first stream chunk at the client; engine: TokenListener)
   * @param lagMs delivery lag, NaN where there is none
   */
  record Sample(
      int maxTokens, int generated, boolean ok, double ttftMs, double e2eMs, double lagMs) {}

  static PipelineRun of(String path, int rep, List<Sample> samples, double wallS) {
    long gen = samples.stream().mapToLong(Sample::generated).sum();
    int errors = (int) samples.stream().filter(s -> !s.ok()).count();
    double[] ttft = values(samples, Sample::ttftMs);
    double[] e2e = values(samples, Sample::e2eMs);
    double[] lag = values(samples, Sample::lagMs);
    List<Sample> byLength =
        samples.stream().sorted(Comparator.comparingInt(Sample::maxTokens)).toList();
    List<Sample> shortest = byLength.subList(0, Math.max(1, byLength.size() / 4));
    return new PipelineRun(
        path,
        rep,
        samples.size(),
        errors,
        gen,
        wallS,
        gen / wallS,
        Stats.percentile(ttft, 50),
        Stats.percentile(ttft, 99),
        Stats.percentile(e2e, 50),
        Stats.percentile(e2e, 99),
        Stats.percentile(lag, 50),
        Stats.percentile(lag, 99),
        Stats.percentile(values(shortest, Sample::e2eMs), 50));
  }

  private static double[] values(
      List<Sample> samples, java.util.function.ToDoubleFunction<Sample> f) {
    return samples.stream().mapToDouble(f).filter(v -> !Double.isNaN(v)).toArray();
  }

  /** Median, min and max of {@code f} over {@code runs}. */
  static double[] spread(
      List<PipelineRun> runs, java.util.function.ToDoubleFunction<PipelineRun> f) {
    double[] v = runs.stream().mapToDouble(f).toArray();
    return new double[] {Stats.median(v), Stats.min(v), Stats.max(v)};
  }

  @Override
  public String toString() {
    return String.format(
        "%s rep %d: %d requests, %d errors, %d tokens in %.2f s = %.0f tok/s; ttft p50 %.0f p99 %.0f"
            + " ms; e2e p50 %.0f p99 %.0f ms; lag p50 %.1f p99 %.1f ms; short-quartile p50 %.0f ms",
        path,
        rep,
        requests,
        errors,
        generated,
        wallS,
        tokPerS,
        ttftP50,
        ttftP99,
        e2eP50,
        e2eP99,
        deliveryLagP50,
        deliveryLagP99,
        shortQuartileP50);
  }

  static double[] ratios(
      List<PipelineRun> kafka,
      List<PipelineRun> engine,
      java.util.function.ToDoubleFunction<PipelineRun> f) {
    double[] r = new double[Math.min(kafka.size(), engine.size())];
    for (int i = 0; i < r.length; i++) {
      r[i] = f.applyAsDouble(kafka.get(i)) / f.applyAsDouble(engine.get(i));
    }
    Arrays.sort(r);
    return r;
  }
}
