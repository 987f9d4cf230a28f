package dev.lorastream.bench.store;

import dev.lorastream.bench.Stats;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One figure of {@code bench adapters}: its JSON key, the goal, one value per repetition (a
 * single value where the figure is exact, not a timing), how it was measured, and extra named
 * numbers that explain it (the two sides of a ratio, counts).
 *
 * @param goal e.g. {@code >= 0.85}: {@code >=} or {@code <=} and the bound
 * @param how one paragraph for the report: what is divided by what, what is counted
 */
record Figure(String key, String goal, double[] perRep, String how, Map<String, Double> extras) {

  Figure {
    perRep = perRep.clone();
    extras = new LinkedHashMap<>(extras);
  }

  double median() {
    return Stats.median(perRep);
  }

  double min() {
    return Stats.min(perRep);
  }

  double max() {
    return Stats.max(perRep);
  }

  /** Whether the median meets the goal. */
  boolean met() {
    String[] g = goal.split(" ");
    double bound = Double.parseDouble(g[1]);
    return g[0].equals(">=") ? median() >= bound : median() <= bound;
  }
}
