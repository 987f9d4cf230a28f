package dev.lorastream.bench;

import java.util.ArrayList;
import java.util.List;

/**
 * The ratios the engine benchmark reports. When fewer adapters are present than a ratio names, the
 * largest count present stands in and the ratio is printed under a name carrying that count (e.g.
 * {@code adapters32_over_adapter1} for {@code adapters1000_over_adapter1}), with a note saying so.
 */
final class BenchRatios {
  private BenchRatios() {}

  /**
   * The ratios, with stand-ins named after the count they actually use when adapters are
   * missing.
   */
  static List<Ratio> compute(
      List<RunResult> runs, List<Integer> present, int serial, List<String> notes) {
    List<Ratio> out = new ArrayList<>();
    if (present.isEmpty()) {
      notes.add("no adapters: only the base mode ran, no ratios");
      return out;
    }
    int big = present.getLast();
    int mid = present.stream().filter(n -> n <= 32).reduce((a, b) -> b).orElse(present.getFirst());
    String h = "hetero:";
    out.add(
        Ratio.of(
            "adapters" + big + "_over_adapter1",
            "generated tok/s, " + h + big + " over adapter1",
            standIn(big, 1000, "adapters1000_over_adapter1", notes),
            runs,
            h + big,
            "adapter1",
            RunResult::generatedTokPerS));
    out.add(
        Ratio.of(
            "adapters" + mid + "_over_base",
            "generated tok/s, " + h + mid + " over base",
            standIn(mid, 32, "adapters32_over_base", notes),
            runs,
            h + mid,
            "base",
            RunResult::generatedTokPerS));
    if (serial > 0) {
      out.add(
          Ratio.of(
              "hetero_over_serial_uniform" + serial,
              "generated tok/s, " + h + serial + " over serial:" + serial + " (same requests)",
              standIn(serial, 100, "hetero_over_serial_uniform100", notes),
              runs,
              h + serial,
              "serial:" + serial,
              RunResult::generatedTokPerS));
    }
    String floorName =
        mid == 32 ? "step_over_bandwidth_floor" : "step_over_bandwidth_floor_hetero" + mid;
    out.add(
        Ratio.ofRuns(
            floorName,
            "mean decode-only step over its bandwidth floor, " + h + mid,
            standIn(mid, 32, "step_over_bandwidth_floor", notes),
            runs,
            h + mid,
            RunResult::stepOverFloor));
    out.add(
        Ratio.of(
            "adapter1_over_base",
            "generated tok/s, adapter1 over base",
            "",
            runs,
            "adapter1",
            "base",
            RunResult::generatedTokPerS));
    out.add(
        Ratio.ofRuns(
            "base_step_over_bandwidth_floor",
            "mean decode-only step over its floor, base",
            "",
            runs,
            "base",
            RunResult::stepOverFloor));
    return out;
  }

  private static String standIn(int have, int want, String wanted, List<String> notes) {
    if (have == want) {
      return "";
    }
    String note = wanted + " stands in with " + have + " adapters (" + want + " not present)";
    notes.add(note);
    return note;
  }
}
