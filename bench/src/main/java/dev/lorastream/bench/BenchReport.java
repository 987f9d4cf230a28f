package dev.lorastream.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.ToDoubleFunction;

/**
 * Writes a benchmark's {@code report.md} (medians with spread) and {@code results.json} (every raw
 * run).
 */
final class BenchReport {
  private BenchReport() {}

  /** A column of the per-mode tables: header, unit format, and how to read it off a run. */
  private record Metric(String name, String format, ToDoubleFunction<RunResult> get) {}

  private static final List<Metric> METRICS =
      List.of(
          new Metric("generated tok/s", "%.1f", RunResult::generatedTokPerS),
          new Metric("prompt+generated tok/s", "%.1f", RunResult::totalTokPerS),
          new Metric("requests/s", "%.2f", RunResult::requestsPerS),
          new Metric("TTFT p50 ms", "%.1f", RunResult::ttftP50Ms),
          new Metric("TTFT p99 ms", "%.1f", RunResult::ttftP99Ms),
          new Metric("TPOT p50 ms", "%.2f", RunResult::tpotP50Ms),
          new Metric("TPOT p99 ms", "%.2f", RunResult::tpotP99Ms),
          new Metric("mean step ms", "%.2f", RunResult::meanStepMs),
          new Metric("decode step ms", "%.2f", RunResult::meanDecodeStepMs),
          new Metric("decode floor ms", "%.3f", RunResult::floorMs),
          new Metric("step / floor", "%.1f", RunResult::stepOverFloor),
          new Metric("decode steps", "%.0f", r -> r.decodeSteps()),
          new Metric("seqs / decode step", "%.1f", RunResult::meanDecodeSeqs),
          new Metric("adapters / decode step", "%.1f", RunResult::meanDecodeAdapters),
          new Metric("slot loads", "%.0f", r -> r.slotLoads()),
          new Metric("generated tokens", "%.0f", r -> r.generatedTokens()),
          new Metric("wall s", "%.2f", RunResult::wallSeconds),
          new Metric("peak heap MB (incl. garbage)", "%.0f", RunResult::peakHeapMb),
          new Metric("allocated MB, engine thread", "%.1f", RunResult::allocEngineMb),
          new Metric("allocated MB, all threads", "%.1f", RunResult::allocAllMb),
          new Metric("peak RSS MB", "%.0f", RunResult::peakRssMb));

  static void write(Path dir, BenchSetup s, List<RunResult> runs, List<Ratio> ratios)
      throws IOException {
    write(dir, s, runs, ratios, List.of());
  }

  /**
   * As above, with the step-level section's rows ({@link StepFigures}); every ratio is also a
   * top-level numeric field of results.json under its name (its median).
   */
  static void write(
      Path dir, BenchSetup s, List<RunResult> runs, List<Ratio> ratios, List<StepFigures.Row> steps)
      throws IOException {
    String md = markdown(s, runs, ratios);
    if (!steps.isEmpty()) {
      StringBuilder sb = new StringBuilder(md);
      sb.append(
          "\n## Step level (setups stepped in rotation; median of per-repetition medians)\n\n");
      sb.append("| setup | unit | median | min–max | floor |\n|---|---|---:|---|---:|\n");
      for (StepFigures.Row r : steps) {
        sb.append(
            String.format(
                Locale.ROOT,
                "| %s | %s | %.1f | %.1f–%.1f | %s |%n",
                r.label(),
                r.unit(),
                r.median(),
                r.min(),
                r.max(),
                r.floor() > 0 ? String.format(Locale.ROOT, "%.1f", r.floor()) : ""));
      }
      md = sb.toString();
    }
    Files.writeString(dir.resolve("report.md"), md);
    ObjectMapper om = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    ObjectNode root = om.createObjectNode();
    ratiosByName(root, ratios);
    root.set("setup", om.valueToTree(s));
    root.set("runs", om.valueToTree(runs));
    root.set("steps", om.valueToTree(steps));
    ratiosArray(om, root, ratios);
    om.writeValue(dir.resolve("results.json").toFile(), root);
  }

  /** Each ratio's median as a top-level number of {@code root}, under the ratio's name. */
  static void ratiosByName(ObjectNode root, List<Ratio> ratios) {
    for (Ratio r : ratios) {
      root.put(r.name(), r.median());
    }
  }

  /** {@code root.ratios}: each ratio with its description, note, median, range and values. */
  static void ratiosArray(ObjectMapper om, ObjectNode root, List<Ratio> ratios) {
    ArrayNode rs = root.putArray("ratios");
    for (Ratio r : ratios) {
      ObjectNode o = rs.addObject();
      o.put("name", r.name());
      o.put("description", r.description());
      o.put("note", r.note());
      o.put("median", r.median());
      o.put("min", r.min());
      o.put("max", r.max());
      o.set("per_rep", om.valueToTree(r.perRep()));
    }
  }

  /** The report's ratio table: name, median, range, repetitions, what it divides. */
  static void ratioTable(StringBuilder md, List<Ratio> ratios) {
    md.append("| ratio | median | min–max | reps | what |\n|---|---:|---|---:|---|\n");
    for (Ratio r : ratios) {
      md.append(
          fmt(
              "| `%s` | %.3f | %.3f–%.3f | %d | %s%s |%n",
              r.name(),
              r.median(),
              r.min(),
              r.max(),
              r.perRep().length,
              r.description(),
              r.note().isEmpty() ? "" : "; " + r.note()));
    }
  }

  /** The last lines a benchmark prints: {@code ratio NAME VALUE}, one per ratio. */
  static void printRatios(java.io.PrintWriter out, List<Ratio> ratios) {
    for (Ratio r : ratios) {
      out.println("ratio " + r.name() + " " + String.format(Locale.ROOT, "%.4f", r.median()));
    }
    out.flush();
  }

  static String markdown(BenchSetup s, List<RunResult> runs, List<Ratio> ratios) {
    StringBuilder md = new StringBuilder();
    var c = s.model();
    md.append("# Engine benchmark ").append(s.started()).append("\n\n");
    md.append("Command: `").append(s.command()).append("`\n\n");
    md.append("## Machine\n\n");
    md.append("- CPU: ")
        .append(s.machine().cpuModel())
        .append(", ")
        .append(s.machine().cores())
        .append(" cores visible to the JVM (shared machine: other processes may have run)\n");
    md.append("- JDK: ")
        .append(s.machine().jdk())
        .append("; OS: ")
        .append(s.machine().os())
        .append("; max heap ")
        .append(s.machine().maxHeapMb())
        .append(" MB; backend: ")
        .append(s.backend())
        .append("\n\n");
    md.append("## Setup\n\n");
    md.append("- Model: `")
        .append(s.modelDir())
        .append("`: ")
        .append(c.architecture())
        .append(", ")
        .append(c.numLayers())
        .append(" layers, hidden ")
        .append(c.hiddenSize())
        .append(", intermediate ")
        .append(c.intermediateSize())
        .append(", heads ")
        .append(c.numHeads())
        .append("/")
        .append(c.numKvHeads())
        .append(" (q/kv), head dim ")
        .append(c.headDim())
        .append(", vocab ")
        .append(c.vocabSize())
        .append(", weights ")
        .append(c.dtype())
        .append(", ")
        .append(fmt("%.1f MB", s.floors().baseWeightBytes() / 1e6))
        .append(" read per step\n");
    md.append("- Adapters: `")
        .append(s.adaptersDir())
        .append("`: ")
        .append(s.adaptersPresent())
        .append(" present, the first ")
        .append(s.adaptersUsed())
        .append(" used; rank ")
        .append(s.ranks())
        .append(", targets ")
        .append(s.targets())
        .append("; engine: ")
        .append(s.maxLoras())
        .append(" slots, kernel ")
        .append(s.loraKernel())
        .append(", a fresh engine (cold adapter cache) per run\n");
    md.append("- Workload: ")
        .append(s.requests())
        .append(" requests per run, all at t = 0; prompt ")
        .append(s.promptLen())
        .append(" tokens, ")
        .append(s.maxTokens())
        .append(" generated (greedy, no stop tokens, EOS disabled); batch ")
        .append(s.batch())
        .append(" sequences; uniform adapter popularity, seed ")
        .append(s.seed())
        .append("\n");
    md.append("- Order: ")
        .append(s.reps())
        .append(" repetitions of ")
        .append(s.modes())
        .append(
            ", forward on even and reversed on odd repetitions, after untimed warm-up rounds of every")
        .append(" mode; a full GC (untimed) before each run\n");
    for (String n : s.notes()) {
      md.append("- Note: ").append(n).append('\n');
    }
    md.append("\n## Ratios (median over repetitions of per-repetition ratios)\n\n");
    ratioTable(md, ratios);
    floors(md, s);
    summary(md, runs);
    perMode(md, runs);
    return md.toString();
  }

  private static void floors(StringBuilder md, BenchSetup s) {
    Bandwidth b = s.bandwidth();
    Floors f = s.floors();
    md.append("\n## Physical limits\n\n");
    md.append(
        fmt(
            "- Bandwidth, measured in this process (%d MB buffers, %d threads, best of 3): copy %.1f GB/s"
                + " (read + write), read-only %.1f GB/s. The floor divides by the read-only rate.%n",
            b.bytes() >> 20, b.threads(), b.copyGBs(), b.readGBs()));
    md.append(
        fmt(
            "- Bytes a decode step reads: base weights %.1f MB + %.2f MB per distinct adapter (F32 slot"
                + " rows, rank × (in + out) × 4 per target per layer) + %.1f KB per cached token (K and V, F32, all"
                + " layers); mean context taken as prompt + max_tokens / 2 = %.0f tokens.%n",
            f.baseWeightBytes() / 1e6,
            f.loraBytesPerAdapter() / 1e6,
            f.kvBytesPerToken() / 1e3,
            s.promptLen() + s.maxTokens() / 2.0));
    double ctx = s.promptLen() + s.maxTokens() / 2.0;
    md.append(
        fmt(
            "- Example: %d sequences with 32 distinct adapters: %.1f MB, floor %.3f ms; base only:"
                + " %.3f ms.%n",
            s.batch(),
            f.stepBytes(s.batch(), 32, ctx) / 1e6,
            f.floorMs(s.batch(), 32, ctx),
            f.floorMs(s.batch(), 0, ctx)));
    md.append(
        "- Each run's floor uses its own mean sequences and distinct adapters per decode-only step.\n");
  }

  private static void summary(StringBuilder md, List<RunResult> runs) {
    md.append("\n## Summary (medians)\n\n| mode |");
    for (Metric m : METRICS.subList(0, 11)) {
      md.append(' ').append(m.name()).append(" |");
    }
    md.append("\n|---|").append("---:|".repeat(11)).append('\n');
    for (Map.Entry<String, List<RunResult>> e : byMode(runs).entrySet()) {
      md.append("| ").append(e.getKey()).append(" |");
      for (Metric m : METRICS.subList(0, 11)) {
        md.append(' ').append(fmt(m.format(), Stats.median(values(e.getValue(), m)))).append(" |");
      }
      md.append('\n');
    }
  }

  private static void perMode(StringBuilder md, List<RunResult> runs) {
    for (Map.Entry<String, List<RunResult>> e : byMode(runs).entrySet()) {
      md.append("\n### ")
          .append(e.getKey())
          .append("\n\n| metric | median | min | max | per rep |\n")
          .append("|---|---:|---:|---:|---|\n");
      for (Metric m : METRICS) {
        double[] v = values(e.getValue(), m);
        List<String> each = new ArrayList<>();
        for (double x : v) {
          each.add(fmt(m.format(), x));
        }
        md.append("| ")
            .append(m.name())
            .append(" | ")
            .append(fmt(m.format(), Stats.median(v)))
            .append(" | ")
            .append(fmt(m.format(), Stats.min(v)))
            .append(" | ")
            .append(fmt(m.format(), Stats.max(v)))
            .append(" | ")
            .append(String.join(", ", each))
            .append(" |\n");
      }
    }
  }

  static Map<String, List<RunResult>> byMode(List<RunResult> runs) {
    Map<String, List<RunResult>> m = new LinkedHashMap<>();
    for (RunResult r : runs) {
      m.computeIfAbsent(r.mode(), k -> new ArrayList<>()).add(r);
    }
    return m;
  }

  private static double[] values(List<RunResult> runs, Metric m) {
    return runs.stream().mapToDouble(m.get()).toArray();
  }

  private static String fmt(String f, Object... args) {
    return String.format(Locale.ROOT, f, args);
  }
}
