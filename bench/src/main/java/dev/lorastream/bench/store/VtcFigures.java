package dev.lorastream.bench.store;

import dev.lorastream.bench.Stats;
import dev.lorastream.engine.sched.Engine;
import dev.lorastream.engine.sched.GenerationResult;
import dev.lorastream.engine.sched.TenantServed;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.locks.LockSupport;

/**
 * Fair shares between tenants (VTC) under a hot tenant: one tenant submits 10× the rate of each of
 * the cold tenants. Arrivals are counted in engine ticks (one {@code step()} call each, whether it
 * ran or found nothing), not in wall time, so the load is the same on any machine: the total
 * arrival rate is {@link #LOAD} × the engine's capacity ({@code maxSeqs / maxTokens} requests per
 * step), the hot tenant is backlogged throughout and each cold tenant asks for a little less than
 * an equal share.
 */
final class VtcFigures {
  private VtcFigures() {}

  /** Total arrival rate over the engine's capacity. */
  static final double LOAD = 1.1;

  static final int PROMPT = 8;

  static final int MAX_TOKENS = 16;

  /** One run's outcome. */
  record Run(
      double shareErrorMax,
      double coldP50Ms,
      double coldP50Ticks,
      int minWaiting,
      long servedGenerated,
      long resultsGenerated) {}

  static Figure[] figures(StoreRig rig, int coldTenants, int ticks, int reps) {
    run(rig, coldTenants, ticks / 4, true); // untimed warm-up of both modes (JIT)
    run(rig, coldTenants, ticks / 4, false);
    double[] err = new double[reps];
    double[] latRatio = new double[reps];
    double[] tickRatio = new double[reps];
    double[] loadedMs = new double[reps];
    double[] aloneMs = new double[reps];
    Run last = null;
    for (int r = 0; r < reps; r++) {
      Run loaded;
      Run alone;
      if (r % 2 == 0) {
        loaded = run(rig, coldTenants, ticks, true);
        alone = run(rig, coldTenants, ticks, false);
      } else {
        alone = run(rig, coldTenants, ticks, false);
        loaded = run(rig, coldTenants, ticks, true);
      }
      err[r] = loaded.shareErrorMax();
      loadedMs[r] = loaded.coldP50Ms();
      aloneMs[r] = alone.coldP50Ms();
      latRatio[r] = loaded.coldP50Ms() / alone.coldP50Ms();
      tickRatio[r] = loaded.coldP50Ticks() / alone.coldP50Ticks();
      last = loaded;
    }
    Map<String, Double> shareExtras = new LinkedHashMap<>();
    shareExtras.put("vtc_cold_tenants", (double) coldTenants);
    shareExtras.put("vtc_min_waiting_in_window", (double) last.minWaiting());
    shareExtras.put("vtc_served_generated_total", (double) last.servedGenerated());
    shareExtras.put("vtc_results_generated_total", (double) last.resultsGenerated());
    String setup =
        String.format(
            "Base-model requests (prompt %d random tokens, %d generated), tenant 'hot' at 10× the"
                + " arrival rate of each of %d cold tenants, total arrival rate %.1f × the engine's"
                + " capacity (%d sequences per step / %d tokens = %.2f requests per step), arrivals"
                + " counted in engine ticks (%d ticks; one step() call each), equal tenant weights.",
            PROMPT,
            MAX_TOKENS,
            coldTenants,
            LOAD,
            StoreRig.MAX_SEQS,
            MAX_TOKENS,
            (double) StoreRig.MAX_SEQS / MAX_TOKENS,
            ticks);
    Figure share =
        new Figure(
            "vtc_share_error_max",
            "<= 0.20",
            err,
            setup
                + " Window: the last three quarters of the ticks. Service per tenant in the window"
                + " = VTC's weighted tokens (1 × prompt + 2 × generated, from Scheduler.served()),"
                + " the window's capacity = their sum; fair shares by max-min water-filling, the"
                + " hot tenant backlogged (its queue never empty in the window: smallest number of"
                + " waiting sequences seen is reported), each cold tenant's demand = the weighted"
                + " tokens of the requests it submitted in the window. Figure: max over cold"
                + " tenants of |served − fair| / fair. Exact in ticks (no timing); repeated anyway.",
            shareExtras);
    Map<String, Double> latExtras = new LinkedHashMap<>();
    latExtras.put("vtc_cold_p50_ms_median", Stats.median(loadedMs));
    latExtras.put("vtc_alone_p50_ms_median", Stats.median(aloneMs));
    latExtras.put("vtc_cold_latency_ratio_ticks", Stats.median(tickRatio));
    Figure latency =
        new Figure(
            "vtc_cold_latency_ratio",
            "<= 2",
            latRatio,
            "Same runs. p50 of submit → completion (GenerationResult.totalNanos) of the cold"
                + " tenants' requests submitted in the window, over the p50 of the same arrival"
                + " stream of one cold tenant alone on a fresh engine (nothing else submitted);"
                + " runs alternate order. The same ratio in ticks is reported beside it: the"
                + " wall-time ratio also holds the slower steps of a full batch.",
            latExtras);
    return new Figure[] {share, latency};
  }

  /**
   * One run on a fresh engine: with {@code everyone}, the hot tenant and all cold ones; otherwise
   * cold tenant 0 alone.
   */
  static Run run(StoreRig rig, int coldTenants, int ticks, boolean everyone) {
    System.gc();
    double coldRate = LOAD * StoreRig.MAX_SEQS / MAX_TOKENS / (10.0 + coldTenants);
    int tenants = coldTenants + 1; // index 0: hot
    double[] acc = new double[tenants];
    int[] submitted = new int[tenants];
    int windowStart = ticks / 4;
    int[] tick = {0};
    long[] demand = new long[tenants];
    List<double[]> coldLat = new ArrayList<>(); // {ms, ticks}
    List<java.util.concurrent.CompletableFuture<GenerationResult>> all = new ArrayList<>();
    SplittableRandom rnd = new SplittableRandom(11);
    int minWaiting = Integer.MAX_VALUE;
    Map<String, TenantServed.Tokens> atStart = Map.of();
    Map<String, TenantServed.Tokens> atEnd;
    try (Engine e = rig.engine(rig.resident(1))) {
      for (; tick[0] < ticks; tick[0]++) {
        if (tick[0] == windowStart) {
          atStart = e.scheduler().served().snapshot();
        }
        boolean inWindow = tick[0] >= windowStart;
        for (int t = everyone ? 0 : 1; t < (everyone ? tenants : 2); t++) {
          acc[t] += t == 0 ? 10 * coldRate : coldRate;
          while (acc[t] >= 1) {
            acc[t] -= 1;
            String name = tenantName(t);
            int sentAt = tick[0];
            var f =
                e.submit(
                    rig.request(name + "-" + submitted[t]++, PROMPT, MAX_TOKENS, null, name, rnd));
            all.add(f);
            if (inWindow) {
              demand[t] += PROMPT + 2L * MAX_TOKENS;
              if (t > 0) {
                f.thenAccept(
                    res -> coldLat.add(new double[] {res.totalNanos() / 1e6, tick[0] - sentAt}));
              }
            }
          }
        }
        if (!e.step()) {
          LockSupport.parkNanos(50_000);
        }
        if (inWindow && everyone) {
          minWaiting = Math.min(minWaiting, e.scheduler().numWaiting());
        }
      }
      atEnd = e.scheduler().served().snapshot();
      for (; !e.idle(); tick[0]++) { // drain, still counting ticks for the latencies
        if (!e.step()) {
          LockSupport.parkNanos(50_000);
        }
      }
      long resultsGenerated = 0;
      for (var f : all) {
        GenerationResult res = f.join();
        if (!res.ok()) {
          throw new IllegalStateException("request " + res.id() + " failed: " + res.errorMessage());
        }
        resultsGenerated += res.tokens().length;
      }
      long servedGenerated =
          e.scheduler().served().snapshot().values().stream()
              .mapToLong(TenantServed.Tokens::generated)
              .sum();
      double err = everyone ? shareError(atStart, atEnd, demand) : Double.NaN;
      double[] ms = coldLat.stream().mapToDouble(x -> x[0]).toArray();
      double[] tk = coldLat.stream().mapToDouble(x -> x[1]).toArray();
      return new Run(
          err,
          Stats.percentile(ms, 50),
          Stats.percentile(tk, 50),
          everyone ? minWaiting : 0,
          servedGenerated,
          resultsGenerated);
    }
  }

  static String tenantName(int t) {
    return t == 0 ? "hot" : String.format("cold-%02d", t - 1);
  }

  /** Max over cold tenants of |served − fair| / fair in the window (hot backlogged). */
  private static double shareError(
      Map<String, TenantServed.Tokens> start, Map<String, TenantServed.Tokens> end, long[] demand) {
    int n = demand.length;
    double[] served = new double[n];
    double capacity = 0;
    for (int t = 0; t < n; t++) {
      served[t] = weighted(end.get(tenantName(t))) - weighted(start.get(tenantName(t)));
      capacity += served[t];
    }
    double[] want = new double[n];
    for (int t = 0; t < n; t++) {
      want[t] = t == 0 ? Double.POSITIVE_INFINITY : demand[t];
    }
    double[] fair = waterFill(want, capacity);
    double worst = 0;
    for (int t = 1; t < n; t++) {
      worst = Math.max(worst, Math.abs(served[t] - fair[t]) / fair[t]);
    }
    return worst;
  }

  private static double weighted(TenantServed.Tokens tk) {
    return tk == null ? 0 : tk.prompt() + 2.0 * tk.generated();
  }

  /** Max-min fair allocation of {@code capacity} to demands {@code want}. */
  static double[] waterFill(double[] want, double capacity) {
    int n = want.length;
    Integer[] order = new Integer[n];
    for (int i = 0; i < n; i++) {
      order[i] = i;
    }
    Arrays.sort(order, (a, b) -> Double.compare(want[a], want[b]));
    double[] out = new double[n];
    double left = capacity;
    for (int k = 0; k < n; k++) {
      int i = order[k];
      double level = left / (n - k);
      out[i] = Math.min(want[i], level);
      left -= out[i];
    }
    return out;
  }
}
