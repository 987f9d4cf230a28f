package dev.lorastream.bench;

import dev.lorastream.engine.lora.AdapterSlots;
import dev.lorastream.engine.lora.AdapterSource;
import dev.lorastream.engine.model.LlamaModel;
import dev.lorastream.engine.sample.SamplingParams;
import dev.lorastream.engine.sched.Engine;
import dev.lorastream.engine.sched.EngineConfig;
import dev.lorastream.engine.sched.EngineStats;
import dev.lorastream.engine.sched.GenerationRequest;
import dev.lorastream.engine.sched.GenerationResult;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.locks.LockSupport;

/**
 * Runs one workload on a fresh {@link Engine} over an already loaded model and measures it. A fresh
 * engine per run means empty KV cache, empty adapter slots and a cold host adapter cache: loading
 * adapters from disk is part of what is measured.
 *
 * <p>Steps are driven here rather than by {@code Engine.runUntilIdle} so that each step can be
 * classified (decode-only or not, from the {@link EngineStats} deltas) and the adapters pinned
 * during it counted. When a step finds nothing to run (adapters still loading) this loop parks 0.1
 * ms and retries.
 */
final class ModeRunner {
  private final LlamaModel model;
  private final EngineConfig loraConfig;
  private final EngineConfig baseConfig;
  private final AdapterSource source;
  private final Floors floors;

  /**
   * @param loraConfig engine config for modes with adapters; base mode uses it without LoRA targets
   * @param floors for each run's decode-step floor; null to skip
   */
  ModeRunner(LlamaModel model, EngineConfig loraConfig, AdapterSource source, Floors floors) {
    this.model = model;
    this.loraConfig = loraConfig;
    this.baseConfig =
        loraConfig.withLora(
            loraConfig.maxLoras(),
            loraConfig.maxRank(),
            java.util.Set.of(),
            loraConfig.loraKernel());
    this.source = source;
    this.floors = floors;
  }

  /** Counters of the decode-only steps of a run. */
  private static final class StepTally {
    long decodeSteps;
    long decodeNanos;
    long decodeSeqs;
    long decodeAdapters;
    long peakHeap;
    long allocEngine;
    long allocAll;
    long peakRss;
    long lastRssNanos;
  }

  /** VmRSS of this process from /proc/self/status; 0 where that file does not exist. */
  static long residentBytes() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
        if (line.startsWith("VmRSS:")) {
          return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
        }
      }
    } catch (IOException | RuntimeException e) {
      // not Linux
    }
    return 0;
  }

  private static final com.sun.management.ThreadMXBean ALLOC =
      (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();

  RunResult run(BenchMode mode, int rep, Workload w) {
    // untimed: free the previous run's garbage and, with it, its GC-owned native tensors (KV cache,
    // slots,
    // activations), so that every run starts from the same heap and resident set
    System.gc();
    long tInit = System.nanoTime();
    try (Engine engine =
        new Engine(model, mode.usesLora() ? loraConfig : baseConfig, source, null)) {
      double initMs = (System.nanoTime() - tInit) / 1e6;
      SamplingParams params = SamplingParams.greedy(w.maxTokens());
      List<CompletableFuture<GenerationResult>> futures = new ArrayList<>();
      StepTally tally = new StepTally();
      long alloc0 = ALLOC.getCurrentThreadAllocatedBytes();
      long allocAll0 = ALLOC.getTotalThreadAllocatedBytes();
      long start = System.nanoTime();
      List<List<Workload.Item>> batches =
          mode.kind() == BenchMode.Kind.SERIAL ? w.byAdapter() : List.of(w.items());
      List<Long> submitted =
          new ArrayList<>(); // ns after start: serial mode submits group by group
      for (List<Workload.Item> batch : batches) {
        for (Workload.Item it : batch) {
          submitted.add(System.nanoTime() - start);
          futures.add(
              engine.submit(new GenerationRequest(it.id(), it.prompt(), it.adapterId(), params)));
        }
        drive(engine, tally);
      }
      double wall = (System.nanoTime() - start) / 1e9;
      tally.allocEngine = ALLOC.getCurrentThreadAllocatedBytes() - alloc0;
      tally.allocAll = ALLOC.getTotalThreadAllocatedBytes() - allocAll0;
      return result(mode, rep, w, engine, futures, submitted, tally, wall, initMs);
    }
  }

  /** Steps until idle, timing decode-only steps from the engine's own step clock. */
  private static void drive(Engine engine, StepTally tally) {
    EngineStats st = engine.stats();
    Runtime rt = Runtime.getRuntime();
    while (!engine.idle()) {
      int pinned = pinnedSlots(engine.slots());
      int running = engine.scheduler().numRunning();
      long tokens0 = st.stepTokens();
      long sampled0 = st.sampledTokens();
      long nanos0 = st.stepNanos();
      if (!engine.step()) {
        LockSupport.parkNanos(100_000);
        continue;
      }
      long tokens = st.stepTokens() - tokens0;
      long sampled = st.sampledTokens() - sampled0;
      // decode-only: one sampled token per scheduled token, and no sequence joined this step
      if (tokens > 0 && tokens == sampled && tokens == running) {
        tally.decodeSteps++;
        tally.decodeNanos += st.stepNanos() - nanos0;
        tally.decodeSeqs += running;
        tally.decodeAdapters += pinned;
      }
      tally.peakHeap = Math.max(tally.peakHeap, rt.totalMemory() - rt.freeMemory());
      long now = System.nanoTime();
      if (now - tally.lastRssNanos > 50_000_000L) { // /proc reads cost ~10 µs: at most every 50 ms
        tally.peakRss = Math.max(tally.peakRss, residentBytes());
        tally.lastRssNanos = now;
      }
    }
  }

  /**
   * Slots pinned by running sequences: the distinct adapters of the next step when nobody joins it.
   */
  private static int pinnedSlots(AdapterSlots slots) {
    if (slots == null) {
      return 0;
    }
    int n = 0;
    for (int s = 0; s < slots.slots(); s++) {
      n += slots.pins(s) > 0 ? 1 : 0;
    }
    return n;
  }

  private RunResult result(
      BenchMode mode,
      int rep,
      Workload w,
      Engine engine,
      List<CompletableFuture<GenerationResult>> futures,
      List<Long> submitted,
      StepTally tally,
      double wall,
      double initMs) {
    long gen = 0;
    long prompt = 0;
    int errors = 0;
    List<Double> ttft = new ArrayList<>();
    List<Double> tpot = new ArrayList<>();
    for (int i = 0; i < futures.size(); i++) {
      GenerationResult r = futures.get(i).join();
      if (!r.ok()) {
        errors++;
        continue;
      }
      gen += r.tokens().length;
      prompt += r.promptTokens();
      // every request arrives at t = 0: count the wait before a serial group was submitted too
      ttft.add((submitted.get(i) + r.firstTokenNanos()) / 1e6);
      if (r.tokens().length > 1) {
        tpot.add((r.totalNanos() - r.firstTokenNanos()) / 1e6 / (r.tokens().length - 1));
      }
    }
    double[] ttftA = ttft.stream().mapToDouble(Double::doubleValue).toArray();
    double[] tpotA = tpot.stream().mapToDouble(Double::doubleValue).toArray();
    EngineStats st = engine.stats();
    AdapterSlots slots = engine.slots();
    double decodeMs =
        tally.decodeSteps == 0 ? Double.NaN : tally.decodeNanos / 1e6 / tally.decodeSteps;
    double seqs =
        tally.decodeSteps == 0 ? Double.NaN : (double) tally.decodeSeqs / tally.decodeSteps;
    double adapters =
        tally.decodeSteps == 0 ? Double.NaN : (double) tally.decodeAdapters / tally.decodeSteps;
    // decode contexts run from promptLen to promptLen + maxTokens − 1: on average the midpoint
    double meanContext = w.promptLen() + w.maxTokens() / 2.0;
    double floorMs =
        floors == null || tally.decodeSteps == 0
            ? Double.NaN
            : floors.floorMs(seqs, adapters, meanContext);
    return new RunResult(
        mode.label(),
        rep,
        futures.size(),
        errors,
        gen,
        prompt,
        wall,
        initMs,
        gen / wall,
        (gen + prompt) / wall,
        (futures.size() - errors) / wall,
        Stats.percentile(ttftA, 50),
        Stats.percentile(ttftA, 99),
        Stats.percentile(tpotA, 50),
        Stats.percentile(tpotA, 99),
        st.steps(),
        st.steps() == 0 ? Double.NaN : st.stepNanos() / 1e6 / st.steps(),
        tally.decodeSteps,
        decodeMs,
        seqs,
        adapters,
        slots == null ? 0 : slots.loads(),
        slots == null ? 0 : slots.evictions(),
        engine.scheduler().preemptions(),
        tally.peakHeap / 1e6,
        tally.allocEngine / 1e6,
        tally.allocAll / 1e6,
        Math.max(tally.peakRss, residentBytes()) / 1e6,
        floorMs);
  }
}
