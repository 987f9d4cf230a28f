package dev.lorastream.bench.store;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.lorastream.bench.MachineInfo;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Writes {@code bench adapters}' report.md and results.json. The JSON carries every figure's median
 * and every extra as a top-level number (the names docs/benchmarks.md lists), then per figure its
 * goal, repetitions, min and max and how it was measured.
 *
 * @param setup lines for the report's setup list, in order
 */
record StoreReport(
    String command,
    MachineInfo machine,
    String backend,
    String loadAtStart,
    String loadAtEnd,
    List<String> setup,
    List<Figure> figures) {

  void write(Path out) throws IOException {
    Files.createDirectories(out);
    new ObjectMapper()
        .enable(SerializationFeature.INDENT_OUTPUT)
        .writeValue(out.resolve("results.json").toFile(), json());
    Files.writeString(out.resolve("report.md"), markdown());
  }

  ObjectNode json() {
    ObjectNode root = new ObjectMapper().createObjectNode();
    for (Figure f : figures) {
      root.put(f.key(), f.median());
      for (Map.Entry<String, Double> x : f.extras().entrySet()) {
        root.put(x.getKey(), x.getValue());
      }
    }
    root.put("command", command);
    root.put("backend", backend);
    root.put("load_average_start", loadAtStart);
    root.put("load_average_end", loadAtEnd);
    root.putPOJO("machine", machine);
    ArrayNode s = root.putArray("setup");
    setup.forEach(s::add);
    ObjectNode figs = root.putObject("figures");
    for (Figure f : figures) {
      ObjectNode o = figs.putObject(f.key());
      o.put("goal", f.goal());
      o.put("met", f.met());
      o.put("median", f.median());
      o.put("min", f.min());
      o.put("max", f.max());
      ArrayNode reps = o.putArray("per_rep");
      for (double v : f.perRep()) {
        reps.add(v);
      }
      o.put("how", f.how());
    }
    return root;
  }

  String markdown() {
    StringBuilder md = new StringBuilder();
    md.append("# Adapter store benchmark\n\n");
    md.append("Command: `").append(command).append("`\n\n");
    md.append(
        String.format(
            Locale.ROOT,
            "Machine: %s, %d cores visible to the JVM, %s, %s, max heap %d MB; backend %s."
                + " Load average (1, 5, 15 min, /proc/loadavg) at start %s, at end %s.%n%n",
            machine.cpuModel(),
            machine.cores(),
            machine.jdk(),
            machine.os(),
            machine.maxHeapMb(),
            backend,
            loadAtStart,
            loadAtEnd));
    md.append("## Setup\n\n");
    setup.forEach(l -> md.append("- ").append(l).append('\n'));
    md.append("\n## Figures\n\n");
    md.append(
        "Median over repetitions, min–max in brackets; one value where the figure is exact.\n\n");
    md.append(
        "| figure | goal | median (min–max) | repetitions | goal met |\n|---|---|---|---|---|\n");
    for (Figure f : figures) {
      md.append(
          String.format(
              Locale.ROOT,
              "| `%s` | %s | %s | %d | %s |%n",
              f.key(),
              f.goal(),
              f.perRep().length == 1
                  ? num(f.median())
                  : num(f.median()) + " (" + num(f.min()) + "–" + num(f.max()) + ")",
              f.perRep().length,
              f.met() ? "yes" : "**no**"));
    }
    md.append("\n## How each figure is measured\n\n");
    for (Figure f : figures) {
      md.append("### `").append(f.key()).append("`\n\n").append(f.how()).append("\n\n");
      StringBuilder reps = new StringBuilder();
      for (double v : f.perRep()) {
        reps.append(reps.isEmpty() ? "" : ", ").append(num(v));
      }
      md.append("Per repetition: ").append(reps).append(".");
      for (Map.Entry<String, Double> x : f.extras().entrySet()) {
        md.append(" `").append(x.getKey()).append("` = ").append(num(x.getValue())).append(";");
      }
      md.append("\n\n");
    }
    return md.toString();
  }

  private static String num(double v) {
    if (v == Math.rint(v) && Math.abs(v) < 1e9) {
      return String.valueOf((long) v);
    }
    return String.format(Locale.ROOT, Math.abs(v) >= 100 ? "%.1f" : "%.3f", v);
  }
}
