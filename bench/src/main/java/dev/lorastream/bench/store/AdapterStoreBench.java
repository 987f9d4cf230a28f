package dev.lorastream.bench.store;

import dev.lorastream.bench.EngineBench;
import dev.lorastream.bench.MachineInfo;
import dev.lorastream.engine.config.ModelConfig;
import dev.lorastream.engine.config.Proj;
import dev.lorastream.engine.model.LlamaModel;
import dev.lorastream.engine.model.LoadedModel;
import dev.lorastream.engine.model.ModelLoader;
import dev.lorastream.engine.ops.Ops;
import dev.lorastream.engine.sched.EngineConfig;
import dev.lorastream.engine.testdata.AdapterGenerator;
import dev.lorastream.engine.testdata.ModelGenerator;
import dev.lorastream.tools.BackendOption;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code lorastream bench adapters}: the adapter store's figures (host tier, true-rank pool, pool
 * writes off the engine thread, VTC fair shares), on a model and adapters it generates itself under
 * {@code --work}. Writes report.md and results.json; prints {@code figure KEY VALUE} lines last on
 * stdout. Method and figures: docs/benchmarks.md.
 */
@Command(
    name = "adapters",
    mixinStandardHelpOptions = true,
    description =
        "Adapter store: cold vs resident throughput, step p99 during loads, cold load vs disk,"
            + " pool residency vs padded slots, VTC shares.")
public final class AdapterStoreBench implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Option(
      names = "--quick",
      description =
          "N=500, H=50, P=16, 256 requests, 10 cold tenants, 400 VTC ticks (about a minute)")
  boolean quick;

  @Option(names = "--out", description = "output folder (default bench/results/adapters-<date>)")
  Path out;

  @Option(
      names = "--work",
      description =
          "where the model and adapters are generated, reused when present"
              + " (default <java.io.tmpdir>/lorastream-bench-adapters)")
  Path work;

  @Option(names = "--adapters", description = "N, adapters on disk (default 5000; quick 500)")
  Integer adapters;

  @Option(
      names = "--host-adapters",
      description = "H, host budget in adapters (default 500; quick 50)")
  Integer hostAdapters;

  @Option(
      names = "--pool",
      description = "P, pool room in rank-16 adapters, a multiple of 4 (default 64; quick 16)")
  Integer pool;

  @Option(
      names = "--requests",
      description = "requests of the throughput figure (default 512; quick 256)")
  Integer requests;

  @Option(
      names = "--max-tokens",
      description = "tokens generated per request of the throughput figure")
  Integer maxTokens;

  @Option(
      names = "--prompt-len",
      defaultValue = "8",
      description = "prompt tokens per request of the throughput figure")
  int promptLen;

  @Option(names = "--zipf", defaultValue = "1.0", description = "adapter popularity exponent")
  double zipf;

  @Option(names = "--reps", defaultValue = "5", description = "repetitions of each timed figure")
  int reps;

  @Option(
      names = "--storm-steps",
      description =
          "timed steps per phase of the step figure (at most 200: the steady sequences must outlast both phases)")
  Integer stormSteps;

  @Option(
      names = "--cold-tenants",
      description = "cold tenants of the VTC figures (default 50; quick 10)")
  Integer coldTenants;

  @Option(names = "--vtc-ticks", description = "engine ticks per VTC run (default 800; quick 400)")
  Integer vtcTicks;

  @Option(
      names = "--preset",
      defaultValue = "tiny",
      description = "make-model preset of the generated model")
  String preset;

  @Option(
      names = "--targets",
      defaultValue = "q,k,v,o,gate,up,down",
      description = "LoRA targets of the generated adapters")
  String targets;

  @Option(names = "--seed", defaultValue = "0", description = "workload seed")
  long seed;

  @Mixin BackendOption backend;

  @Override
  public Integer call() throws Exception {
    int n = adapters != null ? adapters : quick ? 500 : 5000;
    int h = hostAdapters != null ? hostAdapters : quick ? 50 : 500;
    int p = pool != null ? pool : quick ? 16 : 64;
    int nReq = requests != null ? requests : quick ? 256 : 512;
    int nTok = maxTokens != null ? maxTokens : 32;
    int steps = stormSteps != null ? stormSteps : 200;
    int tenants = coldTenants != null ? coldTenants : quick ? 10 : 50;
    int ticks = vtcTicks != null ? vtcTicks : quick ? 400 : 800;
    if (n % 4 != 0 || n < 32) {
      throw new IllegalArgumentException(
          "--adapters must be a multiple of 4 and at least 32, got " + n);
    }
    if (p % 4 != 0 || p <= 0) {
      throw new IllegalArgumentException(
          "--pool must be a positive multiple of 4 (max-loras × 64 = P × 16 rows), got " + p);
    }
    if (steps > 200) {
      throw new IllegalArgumentException(
          "--storm-steps must be at most 200 (the steady sequences of the tiny model's 512-token"
              + " context must outlast both phases), got "
              + steps);
    }
    if (reps < 1) {
      throw new IllegalArgumentException("--reps must be at least 1, got " + reps);
    }
    String loadAtStart = loadAverage();
    Path workDir =
        work != null
            ? work
            : Path.of(System.getProperty("java.io.tmpdir"), "lorastream-bench-adapters");
    Path outDir = out != null ? out : Path.of("bench", "results", "adapters-" + LocalDate.now());
    List<String> ts = Arrays.stream(targets.split(",")).map(String::trim).toList();
    Path modelDir = workDir.resolve(preset);
    Path adDir = workDir.resolve(preset + "-" + String.join("-", ts) + "-r8-16-32-64");
    generate(modelDir, adDir, n, ts);

    List<Figure> figures = new ArrayList<>();
    try (Ops ops = backend.create();
        LoadedModel lm = ModelLoader.load(modelDir, ops)) {
      ModelConfig cfg = EngineBench.withoutEos(lm.config());
      Set<Proj> projs = EngineConfig.parseTargets(targets);
      LlamaModel model =
          new LlamaModel(cfg, lm.weights(), ops, EngineConfig.defaults().loraKernel());
      StoreRig probe = new StoreRig(ops, cfg, model, adDir, n, projs, 1, h, p);
      long bytes = 0;
      for (int i = 0; i < 4; i++) {
        bytes += probe.load(StoreRig.id(i)).bytes();
      }
      StoreRig rig = new StoreRig(ops, cfg, model, adDir, n, projs, bytes / 4, h, p);

      say("residency: filling a pool of P = " + p + " rank-16 adapters...");
      figures.add(PoolFigures.residency(rig, seed));
      say("cold load vs disk read...");
      figures.add(PoolFigures.coldLoad(rig, Math.max(reps, 5), seed));
      say("throughput, cold store vs all resident (" + reps + " reps)...");
      figures.add(EngineFigures.throughput(rig, nReq, promptLen, nTok, zipf, reps, seed));
      say("decode step p99 during a storm of cold loads (" + reps + " reps)...");
      figures.add(EngineFigures.stepDuringLoads(rig, 16, steps, 2, reps, seed));
      say("VTC shares, 1 hot and " + tenants + " cold tenants (" + reps + " reps)...");
      figures.addAll(Arrays.asList(VtcFigures.figures(rig, tenants, ticks, reps)));

      List<String> setup =
          List.of(
              String.format(
                  Locale.ROOT,
                  "model: generated preset `%s` (hidden %d, %d layers, vocab %d, context %d), EOS disabled",
                  preset,
                  cfg.hiddenSize(),
                  cfg.numLayers(),
                  cfg.vocabSize(),
                  cfg.maxPositionEmbeddings()),
              String.format(
                  Locale.ROOT,
                  "adapters: N = %d generated in %s, ranks 8, 16, 32, 64 cycled, targets %s; mean %d bytes loaded",
                  n,
                  adDir,
                  String.join(",", ts),
                  rig.meanAdapterBytes()),
              String.format(
                  Locale.ROOT,
                  "cold store: host budget H = %d adapters (%d bytes, `lorastream.adapters.host-cache-bytes`),"
                      + " pool P = %d rank-16 adapters (`max-loras` %d × `max-rank` %d = %d rows)",
                  h,
                  (long) h * rig.meanAdapterBytes(),
                  p,
                  rig.coldMaxLoras(),
                  StoreRig.MAX_RANK,
                  rig.coldMaxLoras() * StoreRig.MAX_RANK),
              String.format(
                  Locale.ROOT,
                  "engine: at most %d sequences and 256 tokens per step, %d adapter loader threads,"
                      + " LoRA kernel %s",
                  StoreRig.MAX_SEQS,
                  Integer.getInteger(dev.lorastream.engine.sched.Engine.LOADER_THREADS_PROPERTY, 2),
                  EngineConfig.defaults().loraKernel()),
              "timed figures: "
                  + reps
                  + " repetitions (cold load: "
                  + Math.max(reps, 5)
                  + "), modes alternating order, a fresh engine per run, a full GC before each");
      StoreReport report =
          new StoreReport(
              command(),
              MachineInfo.detect(),
              ops.name(),
              loadAtStart,
              loadAverage(),
              setup,
              figures);
      report.write(outDir);
    }
    var stdout = spec.commandLine().getOut();
    stdout.println("wrote " + outDir.resolve("report.md") + ", results.json");
    for (Figure f : figures) {
      stdout.println(
          "figure "
              + f.key()
              + " "
              + String.format(Locale.ROOT, "%.4f", f.median())
              + " (goal "
              + f.goal()
              + ")");
    }
    stdout.flush();
    return 0;
  }

  /** Writes the model and the adapters unless a previous run left them there. */
  private void generate(Path modelDir, Path adDir, int n, List<String> ts) throws Exception {
    if (!Files.isRegularFile(modelDir.resolve("config.json"))) {
      say("generating model " + preset + " in " + modelDir);
      ModelGenerator.make(preset, ModelGenerator.Options.defaults(), modelDir);
    }
    if (!Files.isRegularFile(
        adDir.resolve(StoreRig.id(n - 1)).resolve("adapter_model.safetensors"))) {
      say("generating " + n + " adapters in " + adDir);
      AdapterGenerator.Options d = AdapterGenerator.Options.defaults();
      AdapterGenerator.make(
          modelDir,
          n,
          new AdapterGenerator.Options(
              StoreRig.RANKS, ts, seed, d.alpha(), d.dtype(), d.rslora(), d.deltaRatio()),
          adDir);
    }
  }

  /** The first three fields of /proc/loadavg, or "unknown" where it does not exist. */
  static String loadAverage() {
    try {
      String[] f = Files.readString(Path.of("/proc/loadavg")).trim().split("\\s+");
      return f[0] + " " + f[1] + " " + f[2];
    } catch (java.io.IOException | RuntimeException e) {
      return "unknown";
    }
  }

  private String command() {
    return "./lorastream " + String.join(" ", spec.commandLine().getParseResult().originalArgs());
  }

  /** Progress, on stderr: stdout ends with the figure lines. */
  private void say(String s) {
    spec.commandLine().getErr().println(s);
    spec.commandLine().getErr().flush();
  }
}
