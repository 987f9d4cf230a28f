package dev.lorastream.bench.store;

import dev.lorastream.bench.Stats;
import dev.lorastream.engine.sched.Engine;
import dev.lorastream.engine.sched.GenerationResult;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.function.IntConsumer;

/**
 * The figures timed on a running engine: throughput of the cold store against the all-resident one,
 * and the decode step's p99 while cold adapters load. Modes alternate order between repetitions
 * (forward on even, reversed on odd), each run on a fresh engine.
 */
final class EngineFigures {
  private EngineFigures() {}

  /** Adapter indices drawn Zipf({@code s})-popular over {@code n} (index 0 the most popular). */
  static int[] zipf(int n, double s, int draws, long seed) {
    double[] cdf = new double[n];
    double sum = 0;
    for (int i = 0; i < n; i++) {
      sum += 1 / Math.pow(i + 1, s);
      cdf[i] = sum;
    }
    SplittableRandom rnd = new SplittableRandom(seed);
    int[] out = new int[draws];
    for (int d = 0; d < draws; d++) {
      double u = rnd.nextDouble() * sum;
      int k = java.util.Arrays.binarySearch(cdf, u);
      out[d] = Math.min(n - 1, k >= 0 ? k : -k - 1);
    }
    return out;
  }

  /**
   * Generated tokens/s of {@code requests} bulk-submitted requests (Zipf over the N adapters), cold
   * store over all-resident store (pool and host sized for every adapter the workload uses, each
   * warmed by a 1-token request first, untimed).
   */
  static Figure throughput(
      StoreRig rig, int requests, int promptLen, int maxTokens, double s, int reps, long seed) {
    int[] pick = zipf(rig.count(), s, requests, seed);
    Set<String> distinct = new LinkedHashSet<>();
    for (int i : pick) {
      distinct.add(StoreRig.id(i));
    }
    // untimed warm-up of both modes (JIT)
    int[] few = zipf(rig.count(), s, 16, seed + 1);
    runThroughput(rig, false, few, promptLen, 4, seed, new LinkedHashSet<>());
    runThroughput(rig, true, few, promptLen, 4, seed, distinctOf(few));
    double[] ratio = new double[reps];
    double[] cold = new double[reps];
    double[] resident = new double[reps];
    Run[] coldRuns = new Run[reps];
    Run[] residentRuns = new Run[reps];
    for (int r = 0; r < reps; r++) {
      if (r % 2 == 0) {
        coldRuns[r] = runThroughput(rig, false, pick, promptLen, maxTokens, seed, distinct);
        residentRuns[r] = runThroughput(rig, true, pick, promptLen, maxTokens, seed, distinct);
      } else {
        residentRuns[r] = runThroughput(rig, true, pick, promptLen, maxTokens, seed, distinct);
        coldRuns[r] = runThroughput(rig, false, pick, promptLen, maxTokens, seed, distinct);
      }
      cold[r] = coldRuns[r].tokPerS();
      resident[r] = residentRuns[r].tokPerS();
      ratio[r] = cold[r] / resident[r];
    }
    Map<String, Double> extras = new LinkedHashMap<>();
    extras.put("cold_tok_per_s_median", Stats.median(cold));
    extras.put("resident_tok_per_s_median", Stats.median(resident));
    putRuns(extras, "cold", coldRuns);
    putRuns(extras, "resident", residentRuns);
    extras.put("distinct_adapters", (double) distinct.size());
    return new Figure(
        "throughput_ratio_vs_resident",
        ">= 0.85",
        ratio,
        String.format(
            "%d requests submitted at once, prompt %d tokens, %d generated (greedy, no EOS),"
                + " adapters drawn Zipf(%.2f) over the %d on disk (%d distinct), at most %d"
                + " sequences per step. Generated tokens/s (submit of the first to completion of"
                + " the last) of the cold store (host budget %d adapters of mean size, pool"
                + " max-loras %d × max-rank %d = room for %d of rank 16; a fresh engine, nothing"
                + " loaded) over the same workload with every adapter it uses already resident"
                + " (pool and host sized for all, each warmed by an untimed 1-token request).",
            requests,
            promptLen,
            maxTokens,
            s,
            rig.count(),
            distinct.size(),
            StoreRig.MAX_SEQS,
            rig.hostAdapters(),
            rig.coldMaxLoras(),
            StoreRig.MAX_RANK,
            rig.poolRank16()),
        extras);
  }

  /**
   * One timed throughput run: tokens/s, and where its wall time went (steps run, sequences sampled
   * per step, mean step time, and the share of the wall clock spent in steps rather than waiting
   * for adapters with nothing else to run).
   */
  record Run(
      double tokPerS,
      long steps,
      double seqsPerStep,
      double stepMs,
      double busyShare,
      long hostLoads,
      long poolLoads) {}

  private static void putRuns(Map<String, Double> extras, String mode, Run[] runs) {
    double[] steps = new double[runs.length];
    double[] seqs = new double[runs.length];
    double[] stepMs = new double[runs.length];
    double[] busy = new double[runs.length];
    double[] host = new double[runs.length];
    double[] pool = new double[runs.length];
    for (int i = 0; i < runs.length; i++) {
      host[i] = runs[i].hostLoads();
      pool[i] = runs[i].poolLoads();
      steps[i] = runs[i].steps();
      seqs[i] = runs[i].seqsPerStep();
      stepMs[i] = runs[i].stepMs();
      busy[i] = runs[i].busyShare();
    }
    extras.put(mode + "_steps_median", Stats.median(steps));
    extras.put(mode + "_seqs_per_step_median", Stats.median(seqs));
    extras.put(mode + "_step_ms_median", Stats.median(stepMs));
    extras.put(mode + "_busy_share_median", Stats.median(busy));
    extras.put(mode + "_host_loads_median", Stats.median(host));
    extras.put(mode + "_pool_loads_median", Stats.median(pool));
  }

  private static Set<String> distinctOf(int[] pick) {
    Set<String> d = new LinkedHashSet<>();
    for (int i : pick) {
      d.add(StoreRig.id(i));
    }
    return d;
  }

  private static Run runThroughput(
      StoreRig rig,
      boolean resident,
      int[] pick,
      int promptLen,
      int maxTokens,
      long seed,
      Set<String> distinct) {
    System.gc();
    var ec = resident ? rig.resident(distinct.size()) : rig.cold();
    try (Engine e = rig.engine(ec)) {
      SplittableRandom rnd = new SplittableRandom(seed);
      if (resident) {
        for (String id : distinct) {
          e.submit(rig.request("warm-" + id, 1, 1, id, null, rnd));
        }
        StoreRig.drive(e);
      }
      rnd = new SplittableRandom(seed); // same prompts in both modes
      List<CompletableFuture<GenerationResult>> fs = new ArrayList<>();
      long steps0 = e.stats().steps();
      long stepNanos0 = e.stats().stepNanos();
      long sampled0 = e.stats().sampledTokens();
      long host0 = e.adapterCacheStats().loadsCompleted();
      long pool0 = e.slots().loads();
      long t0 = System.nanoTime();
      for (int i = 0; i < pick.length; i++) {
        fs.add(
            e.submit(rig.request("r" + i, promptLen, maxTokens, StoreRig.id(pick[i]), null, rnd)));
      }
      StoreRig.drive(e);
      double wall = (System.nanoTime() - t0) / 1e9;
      long gen = 0;
      for (var f : fs) {
        GenerationResult res = f.join();
        if (!res.ok()) {
          throw new IllegalStateException("request " + res.id() + " failed: " + res.errorMessage());
        }
        gen += res.tokens().length;
      }
      long steps = e.stats().steps() - steps0;
      double stepS = (e.stats().stepNanos() - stepNanos0) / 1e9;
      long sampled = e.stats().sampledTokens() - sampled0;
      return new Run(
          gen / wall,
          steps,
          sampled / (double) Math.max(1, steps),
          stepS * 1e3 / Math.max(1, steps),
          stepS / wall,
          e.adapterCacheStats().loadsCompleted() - host0,
          e.slots().loads() - pool0);
    }
  }

  /**
   * Per repetition, on a fresh cold-store engine: {@code steady} sequences decode on four resident
   * rank-16 adapters; then a quiet phase of {@code steps} timed steps and a storm phase of {@code
   * steps} timed steps during which {@code stormPerStep} requests (1-token prompt, 1 generated
   * token) for never-used adapters arrive before every step (order of the phases alternates; the
   * storm's stragglers are drained untimed before a quiet phase). Each {@code engine.step()} that
   * ran is timed by this loop; p99 of the storm phase over p99 of the quiet phase.
   */
  static Figure stepDuringLoads(
      StoreRig rig, int steady, int steps, int stormPerStep, int reps, long seed) {
    double[] ratio = new double[reps];
    double[] quietP99 = new double[reps];
    double[] stormP99 = new double[reps];
    double[] loads = new double[reps];
    double[] quietForwardP99 = new double[reps];
    double[] stormForwardP99 = new double[reps];
    double[] quietRestP99 = new double[reps];
    double[] stormRestP99 = new double[reps];
    double[] quietP50 = new double[reps];
    double[] stormP50 = new double[reps];
    double[] controlP99 = new double[reps];
    double[] controlRatio = new double[reps];
    for (int r = 0; r < reps; r++) {
      System.gc();
      try (Engine e = rig.engine(rig.cold())) {
        SplittableRandom rnd = new SplittableRandom(seed + r);
        int maxTokens = Math.min(2 * steps + 200, rig.cfg().maxPositionEmbeddings() - 8);
        startSteady(rig, e, steady, maxTokens, rnd);
        // storm adapters from the rarest end down to 16 (past the steady ones), wrapping around
        int[] next = {0};
        long loads0 = e.slots().loads();
        List<CompletableFuture<GenerationResult>> storm = new ArrayList<>();
        IntConsumer noStorm = step -> {};
        int[] last = {-1};
        IntConsumer doStorm =
            step -> {
              if (step == last[0]) {
                return; // the previous call's step found nothing to run: no new arrivals
              }
              last[0] = step;
              for (int k = 0; k < stormPerStep; k++) {
                String id = StoreRig.id(rig.count() - 1 - next[0]++ % (rig.count() - 16));
                storm.add(e.submit(rig.request("storm-" + id, 1, 1, id, null, rnd)));
              }
            };
        double[][] quietTimes;
        double[][] loudTimes;
        if (r % 2 == 0) {
          quietTimes = timedSteps(e, steps, noStorm);
          loudTimes = timedSteps(e, steps, doStorm);
        } else {
          loudTimes = timedSteps(e, steps, doStorm);
          while (!storm.stream().allMatch(CompletableFuture::isDone)) {
            if (!e.step()) {
              java.util.concurrent.locks.LockSupport.parkNanos(50_000);
            }
          }
          quietTimes = timedSteps(e, steps, noStorm);
        }
        double[] quiet = quietTimes[0];
        double[] loud = loudTimes[0];
        quietForwardP99[r] = Stats.percentile(quietTimes[1], 99);
        stormForwardP99[r] = Stats.percentile(loudTimes[1], 99);
        quietRestP99[r] = Stats.percentile(quietTimes[2], 99);
        stormRestP99[r] = Stats.percentile(loudTimes[2], 99);
        loads[r] = e.slots().loads() - loads0;
        quietP50[r] = Stats.percentile(quiet, 50);
        stormP50[r] = Stats.percentile(loud, 50);
        quietP99[r] = Stats.percentile(quiet, 99);
        stormP99[r] = Stats.percentile(loud, 99);
        ratio[r] = stormP99[r] / quietP99[r];
        controlP99[r] = residentStormP99(rig, steady, steps, stormPerStep, seed + r);
        controlRatio[r] = controlP99[r] / quietP99[r];
        stopSteady(e, steady);
        for (var f : storm) {
          GenerationResult res = f.join();
          if (!res.ok()) {
            throw new IllegalStateException(
                "storm request " + res.id() + " failed: " + res.errorMessage());
          }
        }
      }
    }
    Map<String, Double> extras = new LinkedHashMap<>();
    extras.put("quiet_step_p99_ms_median", Stats.median(quietP99));
    extras.put("storm_step_p99_ms_median", Stats.median(stormP99));
    extras.put("quiet_step_p50_ms_median", Stats.median(quietP50));
    extras.put("storm_step_p50_ms_median", Stats.median(stormP50));
    extras.put("pool_loads_per_rep_median", Stats.median(loads));
    extras.put("quiet_forward_p99_ms_median", Stats.median(quietForwardP99));
    extras.put("storm_forward_p99_ms_median", Stats.median(stormForwardP99));
    extras.put("quiet_rest_p99_ms_median", Stats.median(quietRestP99));
    extras.put("storm_rest_p99_ms_median", Stats.median(stormRestP99));
    extras.put("resident_storm_step_p99_ms_median", Stats.median(controlP99));
    extras.put("resident_storm_ratio_median", Stats.median(controlRatio));
    return new Figure(
        "step_p99_ratio_during_loads",
        "<= 1.2",
        ratio,
        String.format(
            "A fresh cold-store engine; %d sequences (4-token prompts) decode on four resident"
                + " rank-16 adapters. Quiet phase: %d steps. Storm phase: %d steps, before each of"
                + " which %d requests (1-token prompt, 1 generated token) for never-requested"
                + " adapters of mixed rank are submitted, so host loads and pool writes run on the"
                + " loader threads throughout. Every engine.step() call that ran (returned true)"
                + " is timed with System.nanoTime around the call; steps that found nothing to run"
                + " are not counted. A storm step carries the steady decodes plus the 1-token"
                + " prefills of the storm requests admitted in it (no prefill longer than 1 token)."
                + " p99 of the storm phase's steps over p99 of the quiet phase's, per repetition;"
                + " the phases alternate order, and the storm's stragglers are drained untimed"
                + " before a quiet phase that follows it. forward and rest split each step into"
                + " the model's forward pass with sampling (EngineStats) and the engine thread's"
                + " own work. The control, resident_storm: on a fresh engine, the same steady set"
                + " and arrivals for four adapters made resident first (nothing loads); its p99"
                + " over the same repetition's quiet p99 is resident_storm_ratio, the part of the"
                + " figure that the storm's extra rows cause without any load.",
            steady, steps, steps, stormPerStep),
        extras);
  }

  /**
   * Submits {@code steady} sequences (4-token prompts, {@code maxTokens} long) on the four rank-16
   * adapters 1, 5, 9 and 13, and steps (untimed) until all of them run.
   */
  private static void startSteady(
      StoreRig rig, Engine e, int steady, int maxTokens, SplittableRandom rnd) {
    for (int i = 0; i < steady; i++) {
      String id = StoreRig.id(1 + 4 * (i % 4));
      e.submit(rig.request("steady" + i, 4, maxTokens, id, null, rnd));
    }
    while (e.scheduler().numRunning() < steady) {
      if (!e.step()) {
        java.util.concurrent.locks.LockSupport.parkNanos(50_000);
      }
    }
  }

  /** Cancels the steady sequences and steps until the engine is idle. */
  private static void stopSteady(Engine e, int steady) {
    for (int i = 0; i < steady; i++) {
      e.cancel("steady" + i);
    }
    StoreRig.drive(e);
  }

  /**
   * The control for {@link #stepDuringLoads}: the same steady set and the same arrivals, but for
   * four adapters made resident first, so nothing loads; on a fresh engine (the steady sequences
   * would not outlast a third phase). p99 of its steps, in ms.
   */
  private static double residentStormP99(
      StoreRig rig, int steady, int steps, int stormPerStep, long seed) {
    try (Engine e = rig.engine(rig.cold())) {
      SplittableRandom rnd = new SplittableRandom(seed);
      int maxTokens = Math.min(steps + 200, rig.cfg().maxPositionEmbeddings() - 8);
      List<String> resident = new ArrayList<>();
      for (int i = 0; i < 4; i++) {
        resident.add(StoreRig.id(2 + 4 * i)); // rank 32: adapters 2, 6, 10, 14
        e.submit(rig.request("warm" + i, 1, 1, resident.get(i), null, rnd));
      }
      StoreRig.drive(e);
      startSteady(rig, e, steady, maxTokens, rnd);
      long loads0 = e.slots().loads();
      int[] next = {0};
      int[] last = {-1};
      double[][] times =
          timedSteps(
              e,
              steps,
              step -> {
                if (step == last[0]) {
                  return;
                }
                last[0] = step;
                for (int k = 0; k < stormPerStep; k++) {
                  String id = resident.get(next[0]++ % resident.size());
                  e.submit(rig.request("control" + next[0], 1, 1, id, null, rnd));
                }
              });
      if (e.slots().loads() != loads0) {
        throw new IllegalStateException("the control storm loaded adapters: it must not");
      }
      stopSteady(e, steady);
      return Stats.percentile(times[0], 99);
    }
  }

  /**
   * Times {@code n} steps that ran; {@code before} is called with the step index before each.
   * Returns per step: the whole call, the model's forward pass and sampling in it (EngineStats),
   * and the rest (scheduling, admission, adapter bookkeeping), in ms.
   */
  private static double[][] timedSteps(Engine e, int n, IntConsumer before) {
    double[] ms = new double[n];
    double[] forward = new double[n];
    double[] rest = new double[n];
    int done = 0;
    int guard = 0;
    while (done < n && guard++ < 100 * n) {
      before.accept(done);
      long f0 = e.stats().stepNanos();
      long t0 = System.nanoTime();
      boolean ran = e.step();
      long dt = System.nanoTime() - t0;
      if (ran) {
        forward[done] = (e.stats().stepNanos() - f0) / 1e6;
        ms[done] = dt / 1e6;
        rest[done] = ms[done] - forward[done];
        done++;
      } else {
        java.util.concurrent.locks.LockSupport.parkNanos(50_000);
      }
    }
    return new double[][] {
      java.util.Arrays.copyOf(ms, done),
      java.util.Arrays.copyOf(forward, done),
      java.util.Arrays.copyOf(rest, done)
    };
  }
}
