package dev.lorastream.cli;

import dev.lorastream.batcher.BatcherApp;
import dev.lorastream.batcher.BatcherConfig;
import dev.lorastream.bench.MachineInfo;
import dev.lorastream.consumer.ConsumerSettings;
import dev.lorastream.consumer.InferenceConsumer;
import dev.lorastream.devstack.EmbeddedKafka;
import dev.lorastream.engine.backends.Backends;
import dev.lorastream.engine.lora.LoraAdapter;
import dev.lorastream.engine.model.LlamaModel;
import dev.lorastream.engine.model.LoadedModel;
import dev.lorastream.engine.model.ModelLoader;
import dev.lorastream.engine.ops.Ops;
import dev.lorastream.engine.sched.Engine;
import dev.lorastream.engine.sched.EngineConfig;
import dev.lorastream.engine.sched.EngineLoop;
import dev.lorastream.engine.sched.GenerationRequest;
import dev.lorastream.engine.sched.GenerationResult;
import dev.lorastream.ingest.LoraClient;
import dev.lorastream.ingest.LoraClientConfig;
import dev.lorastream.ingest.PromptTokenizer;
import dev.lorastream.tokenizer.HfTokenizer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code lorastream bench pipeline}: the Kafka path (in-process broker, batcher, one inference
 * consumer, a streaming client) against the engine alone, on the same workload in the same run,
 * interleaved (kafka, engine, kafka, engine, ...) and repeated; then the steps a cancel takes.
 * Writes report.md, results.json and plot.png (method: docs/benchmarks.md).
 */
@Command(
    name = "pipeline",
    mixinStandardHelpOptions = true,
    description =
        "Kafka path vs engine alone on one S-LoRA-style workload (Gamma arrivals, mixed output"
            + " lengths, Zipf adapters over tenants), interleaved and repeated.")
public final class PipelineBench implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Option(names = "--quick", description = "a smaller run (under 5 minutes on a 2-core CPU)")
  boolean quick;

  @Option(names = "--out", description = "report folder (default bench/reports/<date>-pipeline)")
  Path out;

  @Option(
      names = "--work",
      defaultValue = "build/bench-pipeline",
      description = "generated adapters")
  Path work;

  @Option(names = "--requests", description = "requests per run (default 160; --quick 64)")
  Integer requests;

  @Option(
      names = "--rate",
      description =
          "mean arrival rate, requests/s (default 30: about 4,000 tokens/s asked, more than this 2-core CPU computes)")
  Double rate;

  @Option(names = "--cv", defaultValue = "1.0", description = "Gamma inter-arrival cv")
  double cv;

  @Option(names = "--zipf", defaultValue = "1.0", description = "adapter popularity exponent")
  double zipf;

  @Option(names = "--min-tokens", defaultValue = "8")
  int minTokens;

  @Option(
      names = "--max-tokens",
      defaultValue = "256",
      description = "outputs uniform in [min, max), capped by the context")
  int maxTokens;

  @Option(names = "--reps", defaultValue = "3")
  int reps;

  @Option(
      names = "--adapters",
      defaultValue = "8",
      description = "generated adapters besides the trained ones")
  int generated;

  @Option(
      names = "--no-warmup",
      description = "skip the untimed warm-up run of each path (JIT, adapter loads)")
  boolean noWarmup;

  @Option(
      names = "--note",
      defaultValue = "",
      description = "a sentence for the report (e.g. what else ran on the machine)")
  String note;

  @Option(
      names = "--max-inflight-batches",
      description =
          "the consumer's lorastream.consumer.max-inflight-batches (default: the consumer's own, the"
              + " engine's sequences per step, 48 here)")
  Integer maxInflight;

  @Option(names = "--seed", defaultValue = "7")
  long seed;

  @Option(
      names = "--tracing",
      description =
          "also run the Kafka path with tracing on (every span made and exported through the SDK"
              + " to an exporter that drops them) after each pair of runs: tracing_throughput_ratio,"
              + " traced over untraced, per repetition")
  boolean tracing;

  @Override
  public Integer call() throws Exception {
    int n = requests != null ? requests : quick ? 64 : 160;
    double r = rate != null ? rate : 30;
    if (reps < 1 || n < 4) {
      throw new IllegalArgumentException("--reps must be >= 1 and --requests >= 4");
    }
    if (minTokens < 1 || maxTokens <= minTokens) {
      throw new IllegalArgumentException(
          "--min-tokens "
              + minTokens
              + " and --max-tokens "
              + maxTokens
              + ": need 1 <= min < max (outputs are drawn uniform in [min, max))");
    }
    if (!(r > 0) || !(cv > 0) || !(zipf >= 0)) {
      throw new IllegalArgumentException(
          "--rate "
              + r
              + ", --cv "
              + cv
              + ", --zipf "
              + zipf
              + ": need rate > 0, cv > 0, zipf >= 0");
    }
    Path home = Path.of(System.getProperty("lorastream.home", ".")).toAbsolutePath().normalize();
    Path dir =
        out != null
            ? out
            : home.resolve("bench/reports/" + java.time.LocalDate.now() + "-pipeline");
    DemoFixtures fx = DemoFixtures.prepare(home, home.resolve(work).normalize(), generated);
    EngineConfig ec = DemoFixtures.engineConfig();
    Ops ops = Backends.create(System.getProperty(Backends.PROPERTY, "auto"));
    LoadedModel model = ModelLoader.load(fx.modelDir(), ops);
    int context = model.config().maxPositionEmbeddings();
    String started = Instant.now().toString();
    String loadAtStart = loadAverage();
    PipelineWorkload w;
    Measured measured;
    try (PromptTokenizer tok = PromptTokenizer.load(fx.modelDir());
        HfTokenizer hf = HfTokenizer.load(fx.modelDir())) {
      w =
          PipelineWorkload.generate(
              n,
              r,
              cv,
              zipf,
              minTokens,
              maxTokens,
              List.copyOf(fx.adapters().keySet()),
              fx.adapters(),
              fx.tenants(),
              hf::encode,
              context,
              seed);
      System.err.printf(
          "bench pipeline: %d requests/run, rate %.1f/s cv %.1f, outputs [%d, %d) capped at context %d,"
              + " %d adapters (zipf %.1f), %d reps%n",
          n, r, cv, minTokens, maxTokens, context, fx.adapters().size(), zipf, reps);
      measured = measure(fx, model, ops, ec, tok, hf, w, context);
    }
    PipelineReport rep =
        new PipelineReport(
            commandLine(),
            started,
            MachineInfo.detect(),
            (fx.modelDir().startsWith(home) ? home.relativize(fx.modelDir()) : fx.modelDir())
                .toString(),
            context,
            ec,
            w,
            measured.kafka(),
            measured.engine(),
            measured.traced(),
            measured.spans(),
            measured.cancel(),
            !noWarmup,
            (note.isEmpty() ? "" : note + " ")
                + "Consumer max-inflight-batches "
                + (maxInflight != null
                    ? maxInflight
                    : ec.maxSeqs() + " (its default: the engine's sequences per step)")
                + ", batcher max wait 20 ms, commit interval 20 ms. "
                + "Load average (1, 5, 15 min, /proc/loadavg) at start "
                + loadAtStart
                + ", at end "
                + loadAverage()
                + ": above the core count means other processes shared the CPU.");
    rep.write(dir);
    System.out.println(rep.summary());
    System.err.println("bench pipeline: report in " + dir);
    return 0;
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

  /** The runs of both paths, interleaved, and the cancel probe. */
  private record Measured(
      List<PipelineRun> kafka,
      List<PipelineRun> engine,
      List<PipelineRun> traced,
      long spans,
      PipelineReport.Cancel cancel) {}

  /**
   * Starts the broker, batcher, consumer and client (the Kafka path) and an engine loop over the
   * same model, adapters and config (the engine path); runs the warm-ups, the repetitions and the
   * cancel probe.
   */
  private Measured measure(
      DemoFixtures fx,
      LoadedModel model,
      Ops ops,
      EngineConfig ec,
      PromptTokenizer tok,
      HfTokenizer hf,
      PipelineWorkload w,
      int context)
      throws Exception {
    List<PipelineRun> kafkaRuns = new ArrayList<>();
    List<PipelineRun> engineRuns = new ArrayList<>();
    List<PipelineRun> tracedRuns = new ArrayList<>();
    try (EmbeddedKafka kafka = EmbeddedKafka.start();
        SwitchedTracing traces = new SwitchedTracing()) {
      String registry = "mock://bench-pipeline-" + ProcessHandle.current().pid();
      DemoFixtures.createTopics(kafka.bootstrapServers());
      fx.publishAdapters(kafka.bootstrapServers(), Map.of("schema.registry.url", registry));
      try (BatcherApp batcher =
              BatcherApp.start(batcherConfig(kafka.bootstrapServers(), registry, context), traces);
          InferenceConsumer consumer =
              new InferenceConsumer(
                  fx.consumerSettings(
                      kafka.bootstrapServers(), registry, "bench-consumer", inflightSetting()),
                  ec,
                  new SimpleMeterRegistry(),
                  traces);
          LoraClient client =
              new LoraClient(
                  LoraClientConfig.of(kafka.bootstrapServers(), registry), tok, null, traces);
          EngineLoop loop =
              new EngineLoop(
                  new Engine(
                      new LlamaModel(model.config(), model.weights(), ops, ec.loraKernel()),
                      ec,
                      id ->
                          LoraAdapter.load(fx.adapterDirs().get(id), model.config(), ec.maxRank()),
                      hf::decode),
                  "bench-engine")) {
        Thread serving =
            Thread.ofPlatform()
                .name("consumer")
                .start(() -> DemoFixtures.serve(consumer, "bench pipeline"));
        batcher.awaitRunning(Duration.ofSeconds(60));
        if (!noWarmup) {
          // untimed: JIT, adapter loads (catalog, host cache, slots) and Kafka client metadata
          System.err.println(
              "bench pipeline: warm-up (not reported): " + PipelinePaths.kafka(client, w, -1));
          System.err.println(
              "bench pipeline: warm-up (not reported): " + PipelinePaths.engine(loop, w, -1));
        }
        for (int rep = 0; rep < reps; rep++) {
          kafkaRuns.add(report(PipelinePaths.kafka(client, w, rep)));
          engineRuns.add(report(PipelinePaths.engine(loop, w, rep)));
          if (tracing) {
            traces.set(true);
            PipelineRun traced = PipelinePaths.kafka(client, w, rep, "kafka+tracing");
            // the consumer makes its spans right after the commit, which the client may see
            // first: let them in before switching off (outside the timed run)
            Thread.sleep(200);
            traces.set(false);
            tracedRuns.add(report(traced));
          }
        }
        traces.flush();
        PipelineReport.Cancel cancel = cancelSteps(loop, tok, context);
        System.err.println("bench pipeline: " + cancel);
        consumer.stop();
        serving.join(10_000);
        return new Measured(kafkaRuns, engineRuns, tracedRuns, traces.exported(), cancel);
      }
    }
  }

  private static PipelineRun report(PipelineRun run) {
    System.err.println("bench pipeline: " + run);
    return run;
  }

  /**
   * Submits one request whose maxTokens fills the context, waits until it has generated 8 tokens,
   * cancels it, and counts the engine steps from the cancel until its future completes (the step
   * that drops it included).
   */
  static PipelineReport.Cancel cancelSteps(EngineLoop loop, PromptTokenizer tok, int context)
      throws Exception {
    int[] prompt = tok.tokenizer().encode("Once upon a time");
    int max = context - prompt.length;
    CompletableFuture<Void> started = new CompletableFuture<>();
    java.util.concurrent.atomic.AtomicLong steps0 = new java.util.concurrent.atomic.AtomicLong();
    CompletableFuture<GenerationResult> f =
        loop.submit(
            new GenerationRequest(
                "cancel-probe",
                prompt,
                null,
                new dev.lorastream.engine.sample.SamplingParams(
                    PipelinePaths.TEMPERATURE,
                    0,
                    PipelinePaths.TOP_P,
                    11,
                    max,
                    List.of(),
                    List.of())),
            (index, token) -> {
              // on the engine thread, as the 8th token is emitted: the cancel is in before the
              // next step whatever the scheduler does with this thread (from another thread it
              // could come steps later, and a seeded request may have ended by then)
              if (index == 7) {
                steps0.set(loop.engine().stats().steps());
                loop.cancel("cancel-probe");
                started.complete(null);
              }
            });
    started.get(60, TimeUnit.SECONDS);
    GenerationResult r = f.get(60, TimeUnit.SECONDS);
    long steps = loop.engine().stats().steps() - steps0.get();
    return new PipelineReport.Cancel(
        max, r.tokens().length, r.errorCode() == null ? "none" : r.errorCode().name(), steps);
  }

  private String commandLine() {
    List<String> args = spec.commandLine().getParseResult().originalArgs();
    return "./lorastream " + String.join(" ", args);
  }

  private static BatcherConfig batcherConfig(String bootstrap, String registry, int context)
      throws Exception {
    Properties bp = DemoFixtures.batcherProperties(bootstrap, registry, "bench");
    bp.put(BatcherConfig.MAX_NEW_TOKENS, String.valueOf(context));
    return BatcherConfig.fromProperties(bp);
  }

  /** {@code --max-inflight-batches} as a consumer setting, when given. */
  private Map<String, String> inflightSetting() {
    return maxInflight == null
        ? Map.of()
        : Map.of(ConsumerSettings.MAX_INFLIGHT, String.valueOf(maxInflight));
  }
}
