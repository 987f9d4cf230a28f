package dev.lorastream.bench;

import dev.lorastream.engine.backends.Backends;
import dev.lorastream.engine.config.ModelConfig;
import dev.lorastream.engine.config.Proj;
import dev.lorastream.engine.lora.AdapterConfig;
import dev.lorastream.engine.lora.AdapterSource;
import dev.lorastream.engine.lora.LoraAdapter;
import dev.lorastream.engine.model.LlamaModel;
import dev.lorastream.engine.model.LoadedModel;
import dev.lorastream.engine.model.ModelLoader;
import dev.lorastream.engine.ops.Ops;
import dev.lorastream.engine.sample.SamplingParams;
import dev.lorastream.engine.sched.Engine;
import dev.lorastream.engine.sched.EngineConfig;
import dev.lorastream.engine.sched.EngineStats;
import dev.lorastream.engine.sched.GenerationRequest;
import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.locks.LockSupport;

/**
 * Heap allocation, GC and time per engine step (not a test): for finding and checking allocation in
 * the hot path, where {@code bench engine} only gives a run's total. Each run is a fresh engine, a
 * full GC (untimed) first, all requests at t = 0; every step is measured on its own: wall time,
 * bytes allocated by the engine thread and by all threads, GC time and count (from the collector
 * MXBeans). Decode-only steps (as in {@code bench engine}) and the other steps (prefill) are summed
 * apart.
 *
 * <p>To compare two builds, run it alternately with each build's classes (A B A B ...) and compare
 * the lines.
 *
 * <p>Run: {@code java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED
 * -XX:+UseParallelGC -cp bench/target/classes:bench/target/test-classes:DEPS
 * dev.lorastream.bench.DecodeStepMain MODEL_DIR [ADAPTERS_DIR]}; with adapters the mode is hetero
 * over all of them (uniform), else base. Knobs: {@code decode.requests} (32), {@code
 * decode.promptLen} (16), {@code decode.maxTokens} (32), {@code decode.reps} (3), {@code
 * decode.warmupS} (5).
 */
public final class DecodeStepMain {
  private DecodeStepMain() {}

  private static final com.sun.management.ThreadMXBean ALLOC =
      (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();

  /** Sums over the steps of one kind (decode-only, or the others). */
  private static final class Tally {
    final List<Double> stepMs = new ArrayList<>();
    long allocEngine;
    long allocAll;
    long gcMs;
    long gcCount;
  }

  public static void main(String[] args) throws Exception {
    Path modelDir = Path.of(args[0]);
    Path adaptersDir = args.length > 1 ? Path.of(args[1]) : null;
    int requests = Integer.getInteger("decode.requests", 32);
    int promptLen = Integer.getInteger("decode.promptLen", 16);
    int maxTokens = Integer.getInteger("decode.maxTokens", 32);
    int reps = Integer.getInteger("decode.reps", 3);
    double warmupS = Double.parseDouble(System.getProperty("decode.warmupS", "5"));
    try (Ops ops = Backends.create(System.getProperty("lorastream.backend", "auto"));
        LoadedModel lm = ModelLoader.load(modelDir, ops)) {
      ModelConfig cfg = EngineBench.withoutEos(lm.config());
      List<String> ids = adaptersDir == null ? List.of() : EngineBench.adapterIds(adaptersDir);
      Set<Proj> targets = EnumSet.noneOf(Proj.class);
      int maxRank = 8;
      for (String id : ids) {
        AdapterConfig ac = AdapterConfig.load(adaptersDir.resolve(id), cfg);
        targets.addAll(ac.targets());
        maxRank = Math.max(maxRank, ac.r());
      }
      int blocksPerSeq = (promptLen + maxTokens + 15) / 16 + 1;
      EngineConfig ec =
          EngineConfig.defaults()
              .withKvBlocks(requests * blocksPerSeq)
              .withStep(Math.max(256, requests * promptLen), requests)
              .withLora(
                  Math.max(1, ids.size()), maxRank, targets, EngineConfig.defaults().loraKernel());
      LlamaModel model = new LlamaModel(cfg, lm.weights(), ops, ec.loraKernel());
      BenchMode mode = ids.isEmpty() ? BenchMode.base() : BenchMode.hetero(ids.size());
      int maxRankF = maxRank;
      AdapterSource source = id -> LoraAdapter.load(adaptersDir.resolve(id), cfg, maxRankF);
      System.out.printf(
          Locale.ROOT,
          "decode-steps: %s, backend %s, mode %s, %d requests of %d+%d tokens, %d reps%n",
          modelDir,
          ops.name(),
          mode.label(),
          requests,
          promptLen,
          maxTokens,
          reps);
      long t0 = System.nanoTime();
      while (System.nanoTime() - t0 < warmupS * 1e9) {
        run(
            model,
            ec,
            source,
            Workload.generate(mode, ids, Math.min(requests, 8), promptLen, 4, cfg.vocabSize(), 1));
      }
      Workload w = Workload.generate(mode, ids, requests, promptLen, maxTokens, cfg.vocabSize(), 0);
      for (int rep = 0; rep < reps; rep++) {
        Tally[] t = run(model, ec, source, w);
        print("rep " + rep + " decode", t[0]);
        print("rep " + rep + " other ", t[1]);
      }
    }
  }

  private static void print(String label, Tally t) {
    double[] ms = t.stepMs.stream().mapToDouble(Double::doubleValue).toArray();
    int n = Math.max(1, ms.length);
    System.out.printf(
        Locale.ROOT,
        "%s steps %3d  step ms median %8.2f (p10 %8.2f, p90 %8.2f)  alloc/step KB engine thread %10.1f,"
            + " all threads %10.1f  GC %d collections %d ms (%.1f%% of step time)%n",
        label,
        ms.length,
        Stats.median(ms),
        Stats.percentile(ms, 10),
        Stats.percentile(ms, 90),
        t.allocEngine / 1e3 / n,
        t.allocAll / 1e3 / n,
        t.gcCount,
        t.gcMs,
        100.0 * t.gcMs / Math.max(1e-9, sum(ms)));
  }

  private static double sum(double[] xs) {
    double s = 0;
    for (double x : xs) {
      s += x;
    }
    return s;
  }

  /** One fresh-engine run; returns the tallies of decode-only steps and of the other steps. */
  private static Tally[] run(LlamaModel model, EngineConfig ec, AdapterSource source, Workload w) {
    System.gc();
    Tally decode = new Tally();
    Tally other = new Tally();
    try (Engine engine = new Engine(model, ec, source, null)) {
      SamplingParams greedy = SamplingParams.greedy(w.maxTokens());
      for (Workload.Item it : w.items()) {
        engine.submit(new GenerationRequest(it.id(), it.prompt(), it.adapterId(), greedy));
      }
      EngineStats st = engine.stats();
      while (!engine.idle()) {
        int running = engine.scheduler().numRunning();
        long tokens0 = st.stepTokens();
        long sampled0 = st.sampledTokens();
        long gcMs0 = gcMillis();
        long gcN0 = gcCount();
        long engine0 = ALLOC.getCurrentThreadAllocatedBytes();
        long all0 = ALLOC.getTotalThreadAllocatedBytes();
        long t0 = System.nanoTime();
        boolean ran = engine.step();
        long dt = System.nanoTime() - t0;
        long allocEngine = ALLOC.getCurrentThreadAllocatedBytes() - engine0;
        long allocAll = ALLOC.getTotalThreadAllocatedBytes() - all0;
        if (!ran) {
          LockSupport.parkNanos(100_000); // adapters still loading
          continue;
        }
        long tokens = st.stepTokens() - tokens0;
        long sampled = st.sampledTokens() - sampled0;
        Tally t = tokens > 0 && tokens == sampled && tokens == running ? decode : other;
        t.stepMs.add(dt / 1e6);
        t.allocEngine += allocEngine;
        t.allocAll += allocAll;
        t.gcMs += gcMillis() - gcMs0;
        t.gcCount += gcCount() - gcN0;
      }
    }
    return new Tally[] {decode, other};
  }

  private static long gcMillis() {
    long ms = 0;
    for (GarbageCollectorMXBean gc : ManagementFactory.getGarbageCollectorMXBeans()) {
      ms += Math.max(0, gc.getCollectionTime());
    }
    return ms;
  }

  private static long gcCount() {
    long n = 0;
    for (GarbageCollectorMXBean gc : ManagementFactory.getGarbageCollectorMXBeans()) {
      n += Math.max(0, gc.getCollectionCount());
    }
    return n;
  }
}
