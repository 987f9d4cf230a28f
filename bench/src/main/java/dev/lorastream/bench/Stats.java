package dev.lorastream.bench;

import java.util.Arrays;

/** Order statistics over small samples. Inputs are not modified. */
public final class Stats {
  private Stats() {}

  /** Median (mean of the two middle values for an even count); NaN for an empty sample. */
  public static double median(double[] xs) {
    if (xs.length == 0) {
      return Double.NaN;
    }
    double[] s = sorted(xs);
    int m = s.length / 2;
    return s.length % 2 == 1 ? s[m] : (s[m - 1] + s[m]) / 2;
  }

  /** Nearest-rank percentile, {@code p} in [0, 100]; NaN for an empty sample. */
  public static double percentile(double[] xs, double p) {
    if (xs.length == 0) {
      return Double.NaN;
    }
    double[] s = sorted(xs);
    int rank = (int) Math.ceil(p / 100.0 * s.length);
    return s[Math.max(0, Math.min(s.length - 1, rank - 1))];
  }

  public static double min(double[] xs) {
    return Arrays.stream(xs).min().orElse(Double.NaN);
  }

  public static double max(double[] xs) {
    return Arrays.stream(xs).max().orElse(Double.NaN);
  }

  public static double mean(double[] xs) {
    return Arrays.stream(xs).average().orElse(Double.NaN);
  }

  private static double[] sorted(double[] xs) {
    double[] s = xs.clone();
    Arrays.sort(s);
    return s;
  }
}
