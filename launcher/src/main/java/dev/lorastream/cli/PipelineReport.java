package dev.lorastream.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.lorastream.bench.MachineInfo;
import dev.lorastream.bench.Stats;
import dev.lorastream.engine.sched.EngineConfig;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.ToDoubleFunction;
import javax.imageio.ImageIO;

/**
 * The report of {@code bench pipeline}: results.json (the named figures first, then every run),
 * report.md, plot.png (tok/s and latencies of each run, both paths).
 */
record PipelineReport(
    String command,
    String started,
    MachineInfo machine,
    String model,
    int context,
    EngineConfig engine,
    PipelineWorkload workload,
    List<PipelineRun> kafka,
    List<PipelineRun> engineOnly,
    List<PipelineRun> traced,
    long spans,
    Cancel cancel,
    boolean warmup,
    String note) {

  /**
   * The cancel probe: a request of {@code maxTokens} (the context less its prompt) cancelled after
   * its 8th token.
   *
   * @param steps engine steps from the cancel until the request's future completed
   */
  record Cancel(int maxTokens, int generated, String errorCode, long steps) {
    @Override
    public String toString() {
      return String.format(
          "cancel: maxTokens %d, cancelled after %d tokens (%s), %d engine steps",
          maxTokens, generated, errorCode, steps);
    }
  }

  /** Each path's runs, in report order; {@code kafka+tracing} only when it ran. */
  private Map<String, List<PipelineRun>> runsByPath() {
    Map<String, List<PipelineRun>> m = new LinkedHashMap<>();
    m.put("kafka", kafka);
    m.put("engine", engineOnly);
    if (!traced.isEmpty()) {
      m.put("kafka+tracing", traced);
    }
    return m;
  }

  /** tok/s of each traced Kafka run over the untraced one of its repetition: [median, min, max]. */
  double[] tracingRatio() {
    double[] r = PipelineRun.ratios(traced, kafka, PipelineRun::tokPerS);
    return new double[] {Stats.median(r), Stats.min(r), Stats.max(r)};
  }

  double[] ratio(ToDoubleFunction<PipelineRun> f) {
    double[] r = PipelineRun.ratios(kafka, engineOnly, f);
    return new double[] {Stats.median(r), Stats.min(r), Stats.max(r)};
  }

  Map<String, Object> json() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("throughput_ratio", ratio(PipelineRun::tokPerS)[0]);
    m.put(
        "delivery_lag_ms",
        Map.of(
            "p50", PipelineRun.spread(kafka, PipelineRun::deliveryLagP50)[0],
            "p99", PipelineRun.spread(kafka, PipelineRun::deliveryLagP99)[0]));
    m.put("short_quartile_latency_ratio", ratio(PipelineRun::shortQuartileP50)[0]);
    if (!traced.isEmpty()) {
      double[] t = tracingRatio();
      m.put("tracing_throughput_ratio", t[0]);
      m.put("tracing_throughput_ratio_spread", t);
      m.put("tracing_spans_exported", spans);
    }
    m.put("cancel_steps", cancel.steps());
    m.put(
        "note",
        "medians over the repetitions; each ratio is the median of the per-repetition"
            + " ratios (kafka rep i / engine rep i)");
    m.put("command", command);
    m.put("started", started);
    m.put("machine", machine);
    m.put("machine_note", note);
    m.put("model", model);
    m.put("context", context);
    m.put("warmup_runs", warmup ? 1 : 0);
    m.put("engine_max_seqs", engine.maxSeqs());
    m.put("engine_max_tokens_per_step", engine.maxTokensPerStep());
    Map<String, Object> wl = new LinkedHashMap<>();
    wl.put("requests", workload.items().size());
    wl.put("rate_per_s", workload.rate());
    wl.put("arrivals", "gamma, cv " + workload.cv());
    wl.put(
        "output_tokens",
        "uniform ["
            + workload.minTokens()
            + ", "
            + workload.maxTokens()
            + ") capped at context - prompt");
    wl.put("requested_tokens", workload.requestedTokens());
    wl.put("adapters", "zipf exponent " + workload.zipf());
    m.put("workload", wl);
    Map<String, Object> paths = new LinkedHashMap<>();
    for (var path : runsByPath().entrySet()) {
      String p = path.getKey();
      List<PipelineRun> runs = path.getValue();
      Map<String, Object> s = new LinkedHashMap<>();
      s.put("tok_per_s", PipelineRun.spread(runs, PipelineRun::tokPerS));
      s.put("ttft_p50_ms", PipelineRun.spread(runs, PipelineRun::ttftP50));
      s.put("ttft_p99_ms", PipelineRun.spread(runs, PipelineRun::ttftP99));
      s.put("e2e_p50_ms", PipelineRun.spread(runs, PipelineRun::e2eP50));
      s.put("e2e_p99_ms", PipelineRun.spread(runs, PipelineRun::e2eP99));
      s.put("short_quartile_p50_ms", PipelineRun.spread(runs, PipelineRun::shortQuartileP50));
      s.put("runs", runs);
      paths.put(p, s);
    }
    m.put("spread_format", "[median, min, max] over the repetitions");
    m.put("paths", paths);
    m.put("cancel", cancel);
    return m;
  }

  void write(Path dir) throws IOException {
    Files.createDirectories(dir);
    new ObjectMapper()
        .enable(SerializationFeature.INDENT_OUTPUT)
        .writeValue(dir.resolve("results.json").toFile(), json());
    Files.writeString(dir.resolve("report.md"), markdown());
    plot(dir.resolve("plot.png"));
  }

  String summary() {
    double[] t = ratio(PipelineRun::tokPerS);
    double[] s = ratio(PipelineRun::shortQuartileP50);
    return String.format(
            "bench pipeline: throughput_ratio %.2f (%.2f-%.2f), delivery_lag_ms p50 %.1f p99 %.1f,"
                + " short_quartile_latency_ratio %.2f (%.2f-%.2f), cancel_steps %d",
            t[0],
            t[1],
            t[2],
            PipelineRun.spread(kafka, PipelineRun::deliveryLagP50)[0],
            PipelineRun.spread(kafka, PipelineRun::deliveryLagP99)[0],
            s[0],
            s[1],
            s[2],
            cancel.steps())
        + (traced.isEmpty()
            ? ""
            : String.format(
                ", tracing_throughput_ratio %.3f (%.3f-%.3f), %d spans exported",
                tracingRatio()[0], tracingRatio()[1], tracingRatio()[2], spans));
  }

  private String markdown() {
    StringBuilder b = new StringBuilder();
    b.append("# bench pipeline: Kafka path vs engine alone\n\n");
    b.append("`").append(command).append("`, started ").append(started).append("\n\n");
    b.append("Machine: ")
        .append(machine.cpuModel())
        .append(", ")
        .append(machine.cores())
        .append(" cores visible, ")
        .append(machine.jdk())
        .append(", heap ")
        .append(machine.maxHeapMb())
        .append(" MB. ")
        .append(note)
        .append("\n\n");
    b.append("Model ")
        .append(model)
        .append(" (context ")
        .append(context)
        .append("), engine: ")
        .append(engine.maxSeqs())
        .append(" sequences and ")
        .append(engine.maxTokensPerStep())
        .append(" tokens per step, the same config on both paths.\n\n");
    b.append(
        String.format(
            "Workload (seed-fixed, the same on both paths): %d requests, Gamma arrivals at %.1f/s with cv %.1f,"
                + " output lengths (maxTokens) uniform in [%d, %d) capped at context - prompt (%d tokens asked"
                + " in all), adapters Zipf (exponent %.1f) over the demo adapters, tenant = the adapter's"
                + " owner (public adapters: a random tenant); temperature %.1f, top-p %.2f, each request's seed."
                + " Runs interleaved kafka, engine, kafka, ... %d repetitions%s.%n%n",
            workload.items().size(),
            workload.rate(),
            workload.cv(),
            workload.minTokens(),
            workload.maxTokens(),
            workload.requestedTokens(),
            workload.zipf(),
            PipelinePaths.TEMPERATURE,
            PipelinePaths.TOP_P,
            kafka.size(),
            warmup ? ", after one untimed warm-up run of each path (JIT, adapter loads)" : ""));
    b.append("## Figures (median, min–max over repetitions)\n\n");
    b.append("| figure | value | goal |\n|---|---|---|\n");
    b.append(row("throughput_ratio (kafka / engine tok/s)", ratio(PipelineRun::tokPerS), "≥ 0.90"));
    b.append(
        row("delivery_lag_ms p50", PipelineRun.spread(kafka, PipelineRun::deliveryLagP50), ""));
    b.append(
        row(
            "delivery_lag_ms p99",
            PipelineRun.spread(kafka, PipelineRun::deliveryLagP99),
            "≤ 100"));
    b.append(row("short_quartile_latency_ratio", ratio(PipelineRun::shortQuartileP50), "≤ 1.5"));
    if (!traced.isEmpty()) {
      b.append(
          row(
              "tracing_throughput_ratio (kafka+tracing / kafka tok/s; "
                  + spans
                  + " spans exported)",
              tracingRatio(),
              "≥ 0.98"));
    }
    b.append("| cancel_steps | ").append(cancel.steps()).append(" | ≤ 2 |\n\n");
    b.append(
        "| path | tok/s | TTFT p50 ms | TTFT p99 ms | e2e p50 ms | e2e p99 ms | short-quartile p50 ms |\n");
    b.append("|---|---|---|---|---|---|---|\n");
    for (var path : runsByPath().entrySet()) {
      String p = path.getKey();
      List<PipelineRun> runs = path.getValue();
      b.append("| ").append(p);
      for (ToDoubleFunction<PipelineRun> f :
          List.<ToDoubleFunction<PipelineRun>>of(
              PipelineRun::tokPerS,
              PipelineRun::ttftP50,
              PipelineRun::ttftP99,
              PipelineRun::e2eP50,
              PipelineRun::e2eP99,
              PipelineRun::shortQuartileP50)) {
        double[] v = PipelineRun.spread(runs, f);
        b.append(String.format(" | %.0f (%.0f–%.0f)", v[0], v[1], v[2]));
      }
      b.append(" |\n");
    }
    b.append("\n## How each figure is measured\n\n");
    b.append(
        "- tok/s: generated tokens of the run over its wall time, first send to last reply.\n");
    b.append(
        "- TTFT: Kafka path, send to the first stream chunk at the client (`LoraClient.stream`);"
            + " engine path, submit to the first `TokenListener` call.\n");
    b.append(
        "- End-to-end: send to the result (Kafka: the client's `Result` event, read `read_committed`;"
            + " engine: the future).\n");
    b.append(
        "- Delivery lag (Kafka path only): the wall-clock time the client saw the reply minus the"
            + " consumer's last-token time, taken as the request's `createdEpochMs` (set by the bench at send)"
            + " plus the reply's `timings.totalMs` (the consumer's engine finish measured from `createdEpochMs`);"
            + " one JVM, one clock, millisecond resolution, so each value is ±1 ms.\n");
    b.append(
        "- Short quartile: the quarter of requests with the smallest maxTokens; ratio of their p50"
            + " end-to-end latency, kafka over engine, per repetition, then the median.\n");
    b.append(
        "- cancel_steps: on the engine-alone loop, a request with maxTokens = context − prompt ("
            + cancel.maxTokens()
            + ") is cancelled after its 8th token; engine steps (`EngineStats.steps`)"
            + " from `cancel` until its future completes (a step already running at the cancel counts, so"
            + " the least possible is 1). Result: "
            + cancel
            + ".\n\n");
    b.append("## Runs\n\n");
    for (int i = 0; i < kafka.size(); i++) {
      b.append("- ").append(kafka.get(i)).append("\n");
      b.append("- ").append(engineOnly.get(i)).append("\n");
    }
    b.append("\n![plot](plot.png)\n");
    return b.toString();
  }

  private static String row(String name, double[] v, String goal) {
    return String.format("| %s | %.2f (%.2f–%.2f) | %s |%n", name, v[0], v[1], v[2], goal);
  }

  /** Two panels: tok/s per repetition, and e2e p50/p99 per repetition, kafka vs engine. */
  private void plot(Path file) throws IOException {
    int w = 900, h = 420;
    BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = img.createGraphics();
    g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
    g.setColor(Color.WHITE);
    g.fillRect(0, 0, w, h);
    bars(g, 20, "generated tok/s per repetition", List.of(PipelineRun::tokPerS), List.of("tok/s"));
    bars(
        g,
        470,
        "end-to-end latency ms per repetition (p50, p99)",
        List.of(PipelineRun::e2eP50, PipelineRun::e2eP99),
        List.of("p50", "p99"));
    g.setColor(new Color(0x1f77b4));
    g.fillRect(20, h - 25, 12, 12);
    g.setColor(Color.BLACK);
    g.drawString("kafka", 36, h - 15);
    g.setColor(new Color(0xff7f0e));
    g.fillRect(90, h - 25, 12, 12);
    g.setColor(Color.BLACK);
    g.drawString("engine alone", 106, h - 15);
    g.dispose();
    ImageIO.write(img, "png", file.toFile());
  }

  private void bars(
      Graphics2D g,
      int x0,
      String title,
      List<ToDoubleFunction<PipelineRun>> fs,
      List<String> names) {
    int top = 40, height = 300, width = 410;
    double max = 1;
    for (var f : fs) {
      for (PipelineRun r : kafka) max = Math.max(max, f.applyAsDouble(r));
      for (PipelineRun r : engineOnly) max = Math.max(max, f.applyAsDouble(r));
    }
    g.setColor(Color.BLACK);
    g.drawString(title + " (max " + Math.round(max) + ")", x0, 25);
    g.setStroke(new BasicStroke(1));
    g.drawLine(x0, top + height, x0 + width, top + height);
    int groups = kafka.size() * fs.size();
    int slot = width / Math.max(1, groups);
    int k = 0;
    for (int fi = 0; fi < fs.size(); fi++) {
      for (int i = 0; i < kafka.size(); i++, k++) {
        int x = x0 + k * slot;
        double a = fs.get(fi).applyAsDouble(kafka.get(i));
        double e = fs.get(fi).applyAsDouble(engineOnly.get(i));
        int ha = (int) (height * a / max), he = (int) (height * e / max);
        g.setColor(new Color(0x1f77b4));
        g.fillRect(x + 4, top + height - ha, slot / 2 - 6, ha);
        g.setColor(new Color(0xff7f0e));
        g.fillRect(x + slot / 2, top + height - he, slot / 2 - 6, he);
        g.setColor(Color.BLACK);
        g.drawString(names.get(fi) + " r" + i, x + 4, top + height + 15);
      }
    }
  }
}
