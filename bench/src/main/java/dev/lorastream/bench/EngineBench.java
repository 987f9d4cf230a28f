package dev.lorastream.bench;

import dev.lorastream.engine.config.ModelConfig;
import dev.lorastream.engine.config.Proj;
import dev.lorastream.engine.lora.AdapterConfig;
import dev.lorastream.engine.lora.LoraAdapter;
import dev.lorastream.engine.model.LlamaModel;
import dev.lorastream.engine.model.LoadedModel;
import dev.lorastream.engine.model.ModelLoader;
import dev.lorastream.engine.ops.Ops;
import dev.lorastream.engine.ops.cpu.CpuOps;
import dev.lorastream.engine.ops.cpu.NativeCpu;
import dev.lorastream.engine.sched.EngineConfig;
import dev.lorastream.tools.BackendOption;
import dev.lorastream.tools.ModelDirOption;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code lorastream bench engine}: base, one adapter, heterogeneous batches over N adapters and
 * adapter-serial batching, all in one process on one loaded model, interleaved over repetitions
 * (forward order on even repetitions, reversed on odd ones, so that drift cancels), a fresh engine
 * per run. Writes report.md, results.json and plot.png; prints {@code ratio NAME VALUE} lines last
 * on stdout.
 */
@Command(
    name = "engine",
    mixinStandardHelpOptions = true,
    description =
        "Engine throughput and latency: base vs one adapter vs N adapters vs adapter-serial.")
public final class EngineBench implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Mixin ModelDirOption modelDir;

  @Option(
      names = "--adapters-dir",
      required = true,
      description = "folder of PEFT adapters (make-adapters)")
  Path adaptersDir;

  @Option(
      names = "--quick",
      description = "fewer requests, tokens and repetitions (32 requests, 16 tokens, 2 reps)")
  boolean quick;

  @Option(names = "--out", description = "output folder (default bench/results/engine-<timestamp>)")
  Path out;

  @Option(
      names = "--reps",
      description = "repetitions of the whole round of modes (default 3; quick 2)")
  Integer reps;

  @Option(names = "--requests", description = "requests per run (default 64; quick 32)")
  Integer requests;

  @Option(
      names = "--max-tokens",
      description = "tokens generated per request (default 32; quick 16)")
  Integer maxTokens;

  @Option(names = "--prompt-len", defaultValue = "16", description = "prompt tokens per request")
  int promptLen;

  @Option(
      names = "--batch",
      defaultValue = "32",
      description = "sequences per step at most (maxSeqs)")
  int batch;

  @Option(
      names = "--counts",
      split = ",",
      defaultValue = "1,10,32,100,1000",
      description = "hetero:N adapter counts")
  List<Integer> counts;

  @Option(
      names = "--serial-n",
      defaultValue = "100",
      description = "adapter count of the serial mode")
  int serialN;

  @Option(names = "--max-loras", defaultValue = "64", description = "adapter slots of the engine")
  int maxLoras;

  @Option(names = "--seed", defaultValue = "0", description = "workload seed")
  long seed;

  @Option(
      names = "--bandwidth-mb",
      defaultValue = "512",
      description = "buffer of the bandwidth measurement")
  int bandwidthMb;

  @Option(
      names = "--warmup-s",
      defaultValue = "3",
      description = "untimed warm-up rounds last at least this")
  double warmupS;

  @Option(
      names = "--step-reps",
      defaultValue = "5",
      description = "repetitions of the step-level section (decode and prefill figures)")
  int stepReps;

  @Option(
      names = "--steps-per-rep",
      description = "decode steps of each setup per repetition (default 6; quick 3)")
  Integer stepsPerRep;

  @Option(
      names = "--prefill-len",
      description = "prompt tokens of each of the 8 prefill prompts (default 256; quick 64)")
  Integer prefillLen;

  @Option(
      names = "--no-steps",
      description = "skip the step-level section (decode steps per kernel and batch, prefill)")
  boolean noSteps;

  @Mixin BackendOption backend;

  @Override
  public Integer call() throws Exception {
    System.setProperty("java.awt.headless", "true");
    int nReps = reps != null ? reps : quick ? 2 : 3;
    int nReq = requests != null ? requests : quick ? 32 : 64;
    int nTok = maxTokens != null ? maxTokens : quick ? 16 : 32;
    String started = LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"));
    Path outDir = out != null ? out : Path.of("bench", "results", "engine-" + started);
    List<String> notes = new ArrayList<>();
    List<String> ids = adapterIds(adaptersDir);
    List<Integer> present = new ArrayList<>();
    for (int n : new TreeSet<>(counts)) {
      if (n <= ids.size()) {
        present.add(n);
      } else {
        notes.add("hetero:" + n + " skipped: only " + ids.size() + " adapters in " + adaptersDir);
      }
    }
    int used = present.isEmpty() ? Math.min(1, ids.size()) : present.getLast();
    int serial = present.stream().filter(n -> n <= serialN).reduce((a, b) -> b).orElse(0);
    if (serial > 0 && serial != serialN) {
      notes.add(
          "serial:"
              + serialN
              + " stands in as serial:"
              + serial
              + " (the largest hetero count <= "
              + serialN
              + " present)");
    }
    List<BenchMode> modes = modes(ids.isEmpty(), present, serial);
    say(
        "bench engine: "
            + modes.size()
            + " modes x "
            + nReps
            + " reps, "
            + nReq
            + " requests of "
            + promptLen
            + "+"
            + nTok
            + " tokens, batch "
            + batch
            + "; "
            + ids.size()
            + " adapters present");

    Path model = modelDir.model();
    try (Ops ops = backend.create();
        LoadedModel lm = ModelLoader.load(model, ops)) {
      ModelConfig cfg = withoutEos(lm.config());
      int act = ops.activationDType().bytes();
      Set<Proj> targets = EnumSet.noneOf(Proj.class);
      TreeSet<Integer> ranks = new TreeSet<>();
      long loraBytes = 0;
      for (String id : ids.subList(0, used)) {
        AdapterConfig ac = AdapterConfig.load(adaptersDir.resolve(id), cfg);
        targets.addAll(ac.targets());
        ranks.add(ac.r());
        loraBytes += Floors.loraBytes(cfg, ac.r(), ac.targets(), act);
      }
      int maxRank = ranks.isEmpty() ? 8 : ranks.last();
      EngineConfig ec = engineConfig(nTok, maxRank, targets);
      LlamaModel m = new LlamaModel(cfg, lm.weights(), ops, ec.loraKernel());

      say("measuring memory bandwidth (" + bandwidthMb + " MB buffers)...");
      Bandwidth bw = Bandwidth.measureBest((long) bandwidthMb << 20, 3);
      say(
          String.format(
              Locale.ROOT,
              "bandwidth: copy %.1f GB/s, read %.1f GB/s (%d threads)",
              bw.copyGBs(),
              bw.readGBs(),
              bw.threads()));
      Floors floors =
          Floors.of(cfg, lm.weights(), used == 0 ? 0 : loraBytes / used, act, bw.readGBs());
      ModeRunner runner =
          new ModeRunner(
              m, ec, id -> LoraAdapter.load(adaptersDir.resolve(id), cfg, maxRank), floors);

      warmUp(runner, modes, ids, cfg.vocabSize());
      List<RunResult> runs = runAll(runner, modes, ids, nReps, nReq, nTok, cfg.vocabSize());
      List<Ratio> ratios = new ArrayList<>(BenchRatios.compute(runs, present, serial, notes));
      List<StepFigures.Row> stepRows = new ArrayList<>();
      if (!noSteps) {
        steps(ops, lm, cfg, m, ec, ids, floors, bw, stepRows, ratios, notes);
      }

      BenchSetup setup =
          new BenchSetup(
              command(),
              started,
              MachineInfo.detect(),
              ops.name(),
              model.toString(),
              cfg,
              adaptersDir.toString(),
              ids.size(),
              used,
              List.copyOf(ranks),
              targets.stream().map(Proj::shortName).toList(),
              ec.loraKernel().name(),
              maxLoras,
              batch,
              nReq,
              promptLen,
              nTok,
              nReps,
              seed,
              modes.stream().map(BenchMode::label).toList(),
              bw,
              floors,
              notes);
      writeOutputs(outDir, setup, runs, modes, ratios, stepRows);
    }
    return 0;
  }

  /**
   * report.md, results.json and plot.png; then notes and, last on stdout, one {@code ratio NAME
   * VALUE} each.
   */
  private void writeOutputs(
      Path outDir,
      BenchSetup setup,
      List<RunResult> runs,
      List<BenchMode> modes,
      List<Ratio> ratios,
      List<StepFigures.Row> stepRows)
      throws IOException {
    Files.createDirectories(outDir);
    BenchReport.write(outDir, setup, runs, ratios, stepRows);
    PlotWriter.write(outDir.resolve("plot.png"), runs, modes);
    PrintWriter stdout = spec.commandLine().getOut();
    stdout.println("wrote " + outDir.resolve("report.md") + ", results.json, plot.png");
    for (String n : setup.notes()) {
      stdout.println("note: " + n);
    }
    BenchReport.printRatios(stdout, ratios);
  }

  /**
   * The step-level section: probes the machine's peaks, then times decode steps at batch 1 and
   * {@code --batch} on each CPU kernel (the Java one and the native one this JVM chose), and at
   * {@code --batch} with up to 32 adapters on the chosen kernel, all stepped in rotation ({@link
   * StepFigures}); then 8 prompts of {@code --prefill-len} tokens per kernel, alternating. Adds its
   * rows and ratios.
   */
  private void steps(
      Ops ops,
      LoadedModel lm,
      ModelConfig cfg,
      LlamaModel m,
      EngineConfig ec,
      List<String> ids,
      Floors floors,
      Bandwidth bw,
      List<StepFigures.Row> rows,
      List<Ratio> ratios,
      List<String> notes)
      throws IOException {
    int threads = Integer.getInteger(CpuOps.THREADS, Runtime.getRuntime().availableProcessors());
    say("probing the machine's peaks (native, " + threads + " threads)...");
    NativeCpu.Peaks peaks =
        NativeCpu.measurePeaks((long) bandwidthMb << 20, threads, 3).orElse(null);
    double readGBs = bw.readGBs();
    double best = 0;
    if (peaks == null) {
      notes.add(
          "no native probes ("
              + NativeCpu.choice().description()
              + "): the step floors use the Java read bandwidth and leave out compute");
    } else {
      readGBs = peaks.readGBs();
      best = peaks.bestGflops();
      say(
          String.format(
              Locale.ROOT,
              "peaks: read %.1f GB/s (Java read loop %.1f), fp32 FMA %.0f GFLOP/s, bf16 dot %.0f"
                  + " GFLOP/s, int8 dot %.0f GOP/s, AMX none",
              peaks.readGBs(),
              bw.readGBs(),
              peaks.fmaGflops(),
              peaks.bf16Gflops(),
              peaks.i8Gops()));
      rows.add(new StepFigures.Row("probe: read bandwidth", "GB/s", readGBs, readGBs, readGBs, 0));
      rows.add(
          new StepFigures.Row(
              "probe: fp32 FMA (AVX-512)",
              "GFLOP/s",
              peaks.fmaGflops(),
              peaks.fmaGflops(),
              peaks.fmaGflops(),
              0));
      rows.add(
          new StepFigures.Row(
              "probe: bf16 dot (AVX512_BF16)",
              "GFLOP/s",
              peaks.bf16Gflops(),
              peaks.bf16Gflops(),
              peaks.bf16Gflops(),
              0));
    }
    Floors f =
        new Floors(
            floors.baseWeightBytes(),
            floors.loraBytesPerAdapter(),
            floors.kvBytesPerToken(),
            readGBs);

    // the kernels: the one this backend runs, and the Java one beside it when that is another
    List<String> names = new ArrayList<>();
    List<LlamaModel> models = new ArrayList<>();
    List<AutoCloseable> extra = new ArrayList<>();
    if (ops instanceof CpuOps cpu && cpu.kernel() != NativeCpu.Kernel.VECTOR) {
      CpuOps vec = new CpuOps(threads, NativeCpu.Kernel.VECTOR);
      LoadedModel vecLm = ModelLoader.load(modelDir.model(), vec);
      extra.add(vecLm);
      extra.add(vec);
      names.add("vector");
      models.add(new LlamaModel(cfg, vecLm.weights(), vec, ec.loraKernel()));
      // F32 weights run fma whatever the kernel (bf16dot is for BF16 weights)
      boolean bf16 = lm.weights().lmHead().dtype() == dev.lorastream.engine.tensor.DType.BF16;
      names.add(bf16 ? cpu.kernel().name().toLowerCase(Locale.ROOT) : "fma");
    } else {
      names.add(
          ops instanceof CpuOps cpu ? cpu.kernel().name().toLowerCase(Locale.ROOT) : ops.name());
    }
    models.add(m);
    String chosen = names.getLast();
    // the int8 weight option beside them, on the chosen kernel's backend otherwise
    LlamaModel int8 = null;
    Floors int8Floors = null;
    double int8Rate = 0;
    if (ops instanceof CpuOps cpu && NativeCpu.canRunInt8() && peaks != null) {
      say("quantizing the model to int8 for the int8 setups...");
      CpuOps q = new CpuOps(threads, cpu.kernel(), CpuOps.WeightFormat.INT8);
      LoadedModel qLm = ModelLoader.load(modelDir.model(), q);
      extra.add(qLm);
      extra.add(q);
      int8 = new LlamaModel(cfg, qLm.weights(), q, ec.loraKernel());
      Floors qf = Floors.of(cfg, qLm.weights(), floors.loraBytesPerAdapter(), 4, readGBs); // F32 KV
      int8Floors =
          new Floors(qf.baseWeightBytes(), f.loraBytesPerAdapter(), f.kvBytesPerToken(), readGBs);
      int8Rate = peaks.i8Gops();
      rows.add(
          new StepFigures.Row(
              "probe: int8 dot (AVX512_VNNI)", "GOP/s", int8Rate, int8Rate, int8Rate, 0));
    }
    try {
      int nSteps = stepsPerRep != null ? stepsPerRep : quick ? 3 : 6;
      // room for the timed steps plus the steps that start the last sequences (adapter loads)
      int newTokens = stepReps * nSteps + 64;
      double context = promptLen + 4 + stepReps * nSteps / 2.0;
      EngineConfig base = ec.withLora(ec.maxLoras(), ec.maxRank(), Set.of(), ec.loraKernel());
      List<String> loraIds = ids.subList(0, Math.min(32, ids.size()));
      List<StepFigures.Decoding> setups = new ArrayList<>();
      StepFigures.Decoding[] b1 = new StepFigures.Decoding[names.size()];
      StepFigures.Decoding[] bN = new StepFigures.Decoding[names.size()];
      StepFigures.Decoding lora = null;
      for (int k = 0; k < names.size(); k++) {
        b1[k] =
            StepFigures.decoding(
                "decode b1 " + names.get(k),
                models.get(k),
                StepFigures.config(base, 1, promptLen, newTokens),
                id -> null,
                1,
                List.of(),
                promptLen,
                newTokens,
                StepFigures.decodeFloorMs(f, lm.weights(), best, 1, 0, context),
                seed);
        bN[k] =
            StepFigures.decoding(
                "decode b" + batch + " " + names.get(k),
                models.get(k),
                StepFigures.config(base, batch, promptLen, newTokens),
                id -> null,
                batch,
                List.of(),
                promptLen,
                newTokens,
                StepFigures.decodeFloorMs(f, lm.weights(), best, batch, 0, context),
                seed);
        setups.add(b1[k]);
        setups.add(bN[k]);
      }
      StepFigures.Decoding q1 = null;
      StepFigures.Decoding qN = null;
      if (int8 != null) {
        q1 =
            StepFigures.decoding(
                "decode b1 int8",
                int8,
                StepFigures.config(base, 1, promptLen, newTokens),
                id -> null,
                1,
                List.of(),
                promptLen,
                newTokens,
                StepFigures.decodeFloorMs(int8Floors, lm.weights(), int8Rate, 1, 0, context),
                seed);
        qN =
            StepFigures.decoding(
                "decode b" + batch + " int8",
                int8,
                StepFigures.config(base, batch, promptLen, newTokens),
                id -> null,
                batch,
                List.of(),
                promptLen,
                newTokens,
                StepFigures.decodeFloorMs(int8Floors, lm.weights(), int8Rate, batch, 0, context),
                seed);
        setups.add(q1);
        setups.add(qN);
      }
      if (!loraIds.isEmpty()) {
        lora =
            StepFigures.decoding(
                "decode b" + batch + " " + loraIds.size() + " adapters " + chosen,
                m,
                StepFigures.config(
                    ec.withLora(
                        Math.max(ec.maxLoras(), loraIds.size()),
                        ec.maxRank(),
                        ec.loraTargets(),
                        ec.loraKernel()),
                    batch,
                    promptLen,
                    newTokens),
                id -> LoraAdapter.load(adaptersDir.resolve(id), cfg, ec.maxRank()),
                batch,
                loraIds,
                promptLen,
                newTokens,
                StepFigures.decodeFloorMs(
                    f, lm.weights(), best, batch, Math.min(batch, loraIds.size()), context),
                seed);
        setups.add(lora);
      }
      say(
          "step-level decode: "
              + setups.size()
              + " setups in rotation, "
              + stepReps
              + " reps x "
              + nSteps
              + " steps each");
      StepFigures.rotate(setups, stepReps, nSteps);
      for (StepFigures.Decoding d : setups) {
        double[] med = d.repMedians();
        rows.add(
            new StepFigures.Row(
                d.label, "ms/step", Stats.median(med), Stats.min(med), Stats.max(med), d.floorMs));
        say(
            String.format(
                Locale.ROOT,
                "%-36s %8.1f ms/step (%.1f-%.1f), floor %.1f ms, x%.2f",
                d.label,
                Stats.median(med),
                Stats.min(med),
                Stats.max(med),
                d.floorMs,
                Stats.median(med) / d.floorMs));
        d.engine.close();
      }
      int last = names.size() - 1;
      ratios.add(
          new Ratio(
              "step_floor_ratio_b1",
              "decode step at batch 1 on the " + chosen + " kernel / its roofline floor",
              "",
              perRep(b1[last], null, b1[last].floorMs)));
      ratios.add(
          new Ratio(
              "step_floor_ratio_b32",
              "decode step at batch "
                  + batch
                  + " on the "
                  + chosen
                  + " kernel / its roofline floor",
              batch == 32 ? "" : "at batch " + batch + " (--batch), not 32",
              perRep(bN[last], null, bN[last].floorMs)));
      if (last > 0) {
        ratios.add(
            new Ratio(
                "native_decode_speedup_b1",
                "decode step at batch 1: vector kernel / " + chosen + " kernel",
                "",
                perRep(b1[0], b1[last], 0)));
        ratios.add(
            new Ratio(
                "native_decode_speedup_b32",
                "decode step at batch " + batch + ": vector kernel / " + chosen + " kernel",
                "",
                perRep(bN[0], bN[last], 0)));
      }
      if (q1 != null) {
        ratios.add(
            new Ratio(
                "int8_decode_speedup_b1",
                "decode step at batch 1: " + chosen + " kernel / int8 weights",
                "",
                perRep(b1[last], q1, 0)));
        ratios.add(
            new Ratio(
                "int8_decode_speedup_b32",
                "decode step at batch " + batch + ": " + chosen + " kernel / int8 weights",
                "",
                perRep(bN[last], qN, 0)));
        ratios.add(
            new Ratio(
                "int8_step_floor_ratio_b32",
                "decode step at batch " + batch + " with int8 weights / its roofline floor",
                "",
                perRep(qN, null, qN.floorMs)));
      }
      if (lora != null) {
        ratios.add(
            new Ratio(
                "lora" + loraIds.size() + "_vs_base_decode_b32",
                "decode tokens/s at batch "
                    + batch
                    + " with "
                    + loraIds.size()
                    + " distinct adapters / without, "
                    + chosen
                    + " kernel",
                "",
                perRep(bN[last], lora, 0)));
      }

      int len = prefillLen != null ? prefillLen : quick ? 64 : 256;
      int prompts = 8;
      List<StepFigures.Prefill> pre = new ArrayList<>();
      for (int k = 0; k < names.size(); k++) {
        pre.add(
            new StepFigures.Prefill(
                "prefill " + prompts + "x" + len + " " + names.get(k),
                models.get(k),
                StepFigures.config(base, prompts, len, 1)));
      }
      if (int8 != null) {
        pre.add(
            new StepFigures.Prefill(
                "prefill " + prompts + "x" + len + " int8",
                int8,
                StepFigures.config(base, prompts, len, 1)));
      }
      say(
          "step-level prefill: "
              + prompts
              + " prompts of "
              + len
              + " tokens, "
              + stepReps
              + " reps");
      StepFigures.prefill(pre, stepReps, prompts, len, seed);
      double flopsPerToken = StepFigures.linearFlops(lm.weights(), 1);
      for (StepFigures.Prefill p : pre) {
        // the int8 setup's ceiling is the int8 dot rate, the others' the best F32/BF16 rate
        double rate = int8 != null && p == pre.getLast() ? int8Rate : best;
        double ceiling = rate > 0 ? rate * 1e9 / flopsPerToken : 0;
        double[] v = p.tokensPerSecond.stream().mapToDouble(Double::doubleValue).toArray();
        rows.add(
            new StepFigures.Row(
                p.label, "prompt tok/s", Stats.median(v), Stats.min(v), Stats.max(v), ceiling));
        say(
            String.format(
                Locale.ROOT,
                "%-36s %8.1f prompt tok/s (%.1f-%.1f), ceiling %.0f",
                p.label,
                Stats.median(v),
                Stats.min(v),
                Stats.max(v),
                ceiling));
      }
      if (last > 0) {
        double[] r = new double[stepReps];
        for (int i = 0; i < stepReps; i++) {
          r[i] = pre.get(last).tokensPerSecond.get(i) / pre.get(0).tokensPerSecond.get(i);
        }
        ratios.add(
            new Ratio(
                "native_prefill_speedup",
                "prompt tokens/s of " + prompts + "x" + len + ": " + chosen + " / vector kernel",
                "",
                r));
      }
      if (int8 != null) {
        double[] qr = new double[stepReps];
        for (int i = 0; i < stepReps; i++) {
          qr[i] = pre.getLast().tokensPerSecond.get(i) / pre.get(last).tokensPerSecond.get(i);
        }
        ratios.add(
            new Ratio(
                "int8_prefill_speedup",
                "prompt tokens/s of " + prompts + "x" + len + ": int8 weights / " + chosen,
                "",
                qr));
      }
    } finally {
      for (AutoCloseable c : extra) {
        try {
          c.close();
        } catch (Exception e) {
          notes.add("closing the vector-kernel or int8 model failed: " + e);
        }
      }
    }
  }

  /**
   * Per repetition: {@code a / b} of the median steps, or {@code a / floor} when {@code b} is null.
   */
  private static double[] perRep(StepFigures.Decoding a, StepFigures.Decoding b, double floorMs) {
    double[] am = a.repMedians();
    double[] out = new double[am.length];
    double[] bm = b == null ? null : b.repMedians();
    for (int i = 0; i < am.length; i++) {
      out[i] = b == null ? am[i] / floorMs : am[i] / bm[i];
    }
    return out;
  }

  static List<BenchMode> modes(boolean noAdapters, List<Integer> present, int serial) {
    List<BenchMode> modes = new ArrayList<>();
    modes.add(BenchMode.base());
    if (noAdapters) {
      return modes;
    }
    modes.add(BenchMode.adapter1());
    present.forEach(n -> modes.add(BenchMode.hetero(n)));
    if (serial > 0) {
      modes.add(BenchMode.serial(serial));
    }
    return modes;
  }

  private EngineConfig engineConfig(int nTok, int maxRank, Set<Proj> targets) {
    int blockSize = 16;
    int blocksPerSeq = (promptLen + nTok + blockSize - 1) / blockSize + 1;
    return EngineConfig.defaults()
        .withKvBlocks(batch * blocksPerSeq)
        .withStep(Math.max(256, batch * promptLen), batch) // a whole wave's prefill fits one step
        .withLora(maxLoras, maxRank, targets, EngineConfig.defaults().loraKernel());
  }

  /**
   * Untimed short runs of every mode (8 requests, 4 tokens), repeated until {@code --warmup-s} have
   * passed, so that the JIT has compiled the hot paths of all of them before the first measured
   * run.
   */
  private void warmUp(ModeRunner runner, List<BenchMode> modes, List<String> ids, int vocab) {
    long t0 = System.nanoTime();
    int rounds = 0;
    do {
      for (BenchMode mode : modes) {
        runner.run(
            mode,
            -1,
            Workload.generate(mode, ids, Math.min(batch, 8), promptLen, 4, vocab, seed + 1));
      }
      rounds++;
    } while (System.nanoTime() - t0 < warmupS * 1e9);
    say(
        String.format(
            Locale.ROOT,
            "warm-up: %d rounds of all modes, %.1f s",
            rounds,
            (System.nanoTime() - t0) / 1e9));
  }

  private List<RunResult> runAll(
      ModeRunner runner,
      List<BenchMode> modes,
      List<String> ids,
      int nReps,
      int nReq,
      int nTok,
      int vocab) {
    Map<BenchMode, Workload> workloads = new HashMap<>();
    for (BenchMode mode : modes) {
      workloads.put(mode, Workload.generate(mode, ids, nReq, promptLen, nTok, vocab, seed));
    }
    List<RunResult> runs = new ArrayList<>();
    for (int rep = 0; rep < nReps; rep++) {
      List<BenchMode> order = rep % 2 == 0 ? modes : modes.reversed();
      for (BenchMode mode : order) {
        RunResult r = runner.run(mode, rep, workloads.get(mode));
        runs.add(r);
        say(
            String.format(
                Locale.ROOT,
                "rep %d/%d %-11s %8.1f tok/s  decode step %8.2f ms (floor %.2f ms, %.1f seqs, %.1f adapters)"
                    + "  %d slot loads  %.2f s%s",
                rep + 1,
                nReps,
                mode.label(),
                r.generatedTokPerS(),
                r.meanDecodeStepMs(),
                r.floorMs(),
                r.meanDecodeSeqs(),
                r.meanDecodeAdapters(),
                r.slotLoads(),
                r.wallSeconds(),
                r.errors() > 0 ? "  " + r.errors() + " ERRORS" : ""));
      }
    }
    return runs;
  }

  /**
   * Adapter folder names (those holding adapter_config.json), sorted: "the first N" are these in
   * order.
   */
  static List<String> adapterIds(Path dir) throws IOException {
    try (Stream<Path> s = Files.list(dir)) {
      return s.filter(p -> Files.isRegularFile(p.resolve(AdapterConfig.FILE_NAME)))
          .map(p -> p.getFileName().toString())
          .sorted()
          .toList();
    }
  }

  /** The model's config with no EOS ids, so that greedy decoding always runs to max_tokens. */
  public static ModelConfig withoutEos(ModelConfig c) {
    return new ModelConfig(
        c.architecture(),
        c.vocabSize(),
        c.hiddenSize(),
        c.intermediateSize(),
        c.numLayers(),
        c.numHeads(),
        c.numKvHeads(),
        c.headDim(),
        c.rmsNormEps(),
        c.ropeTheta(),
        c.ropeScaling(),
        c.maxPositionEmbeddings(),
        c.tieWordEmbeddings(),
        c.qkvBias(),
        c.bosTokenId(),
        new int[0],
        c.dtype());
  }

  private String command() {
    List<String> args = spec.commandLine().getParseResult().originalArgs();
    return "./lorastream " + String.join(" ", args);
  }

  /** Progress, on stderr: stdout ends with the ratio lines. */
  private void say(String s) {
    spec.commandLine().getErr().println(s);
    spec.commandLine().getErr().flush();
  }
}
