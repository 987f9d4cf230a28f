package dev.lorastream.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.function.ToDoubleFunction;

/**
 * A named ratio of two modes measured in the same run: one value per repetition (A and B from the
 * same repetition), quoted as the median with its min–max spread.
 *
 * @param name printed as {@code ratio NAME VALUE}
 * @param description what is divided by what
 * @param note why the ratio stands in for another (fewer adapters present), or empty
 * @param perRep one value per repetition where both modes ran
 */
public record Ratio(String name, String description, String note, double[] perRep) {

  public double median() {
    return Stats.median(perRep);
  }

  public double min() {
    return Stats.min(perRep);
  }

  public double max() {
    return Stats.max(perRep);
  }

  /** {@code metric(a) / metric(b)} per repetition. */
  static Ratio of(
      String name,
      String description,
      String note,
      List<RunResult> runs,
      String a,
      String b,
      ToDoubleFunction<RunResult> metric) {
    List<Double> vals = new ArrayList<>();
    for (int rep = 0; ; rep++) {
      RunResult ra = find(runs, a, rep);
      RunResult rb = find(runs, b, rep);
      if (ra == null && rb == null) {
        break;
      }
      if (ra != null && rb != null) {
        vals.add(metric.applyAsDouble(ra) / metric.applyAsDouble(rb));
      }
    }
    return new Ratio(
        name, description, note, vals.stream().mapToDouble(Double::doubleValue).toArray());
  }

  /** {@code metric(run)} per repetition of one mode (for a ratio already held by each run). */
  static Ratio ofRuns(
      String name,
      String description,
      String note,
      List<RunResult> runs,
      String mode,
      ToDoubleFunction<RunResult> metric) {
    double[] vals = runs.stream().filter(r -> r.mode().equals(mode)).mapToDouble(metric).toArray();
    return new Ratio(name, description, note, vals);
  }

  private static RunResult find(List<RunResult> runs, String mode, int rep) {
    for (RunResult r : runs) {
      if (r.mode().equals(mode) && r.rep() == rep) {
        return r;
      }
    }
    return null;
  }
}
