package dev.lorastream.bench.store;

import dev.lorastream.engine.lora.AdapterSlots;
import dev.lorastream.engine.lora.LoraAdapter;
import dev.lorastream.engine.sched.Engine;
import dev.lorastream.engine.sched.EngineLoop;
import dev.lorastream.engine.sched.GenerationResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/** The adapter pool's figures: how many adapters it holds, and how long a cold adapter takes. */
final class PoolFigures {
  private PoolFigures() {}

  /**
   * {@code n} ranks drawn uniformly from {@link StoreRig#RANKS} with {@code seed}: the order in
   * which {@link #residency} brings adapters into the pool.
   */
  static int[] drawRanks(long seed, int n) {
    SplittableRandom rnd = new SplittableRandom(seed);
    int[] r = new int[n];
    for (int i = 0; i < n; i++) {
      r[i] = StoreRig.RANKS[rnd.nextInt(StoreRig.RANKS.length)];
    }
    return r;
  }

  /**
   * Fills a fresh {@link AdapterSlots} of the cold store's size (the pages of {@code max-loras}
   * adapters of rank 64, as many as {@code P} of rank 16 need) with adapters of ranks drawn by
   * {@link #drawRanks}, each pinned, until one does not fit; compares the count with what slots
   * padded to the largest rank hold in the same pages ({@code max-loras}). Exact, not a timing: one
   * run.
   */
  static Figure residency(StoreRig rig, long seed) {
    AdapterSlots slots =
        new AdapterSlots(
            rig.ops(),
            rig.cfg(),
            rig.coldMaxLoras(),
            StoreRig.MAX_RANK,
            rig.targets(),
            Runnable::run);
    int[] ranks = drawRanks(seed, slots.slots() + 1);
    int[] nextOfRank = new int[StoreRig.RANKS.length];
    for (int rank : ranks) {
      int k = java.util.Arrays.binarySearch(StoreRig.RANKS, rank);
      int index = k + StoreRig.RANKS.length * nextOfRank[k]++;
      if (index >= rig.count()) {
        throw new IllegalStateException(
            "too few adapters of rank " + rank + " on disk to fill the pool: raise --adapters");
      }
      LoraAdapter a = rig.load(StoreRig.id(index));
      if (!slots.hasRoomFor(a.id(), a)) {
        break;
      }
      if (slots.acquire(a) < 0 && slots.acquire(a) < 0) {
        throw new IllegalStateException("adapter " + a.id() + " was not written into the pool");
      }
    }
    int trueRank = slots.residentCount();
    int padded = slots.sharePages() / slots.pagesFor(slots.maxRank());
    Map<String, Double> extras = new LinkedHashMap<>();
    extras.put("resident_true_rank", (double) trueRank);
    extras.put("resident_padded", (double) padded);
    extras.put("pool_pages", (double) slots.sharePages());
    extras.put("used_pages", (double) slots.usedPages());
    for (int rank : StoreRig.RANKS) {
      extras.put("pages_rank_" + rank, (double) slots.pagesFor(rank));
    }
    return new Figure(
        "residency_ratio_vs_padded",
        ">= 2",
        new double[] {(double) trueRank / padded},
        "A fresh adapter pool of the cold store's size ("
            + slots.maxLoras()
            + " × "
            + slots.maxRank()
            + ": "
            + slots.sharePages()
            + " KV pages) is filled with adapters whose ranks are drawn uniformly from {8, 16, 32, 64}"
            + " (seed "
            + seed
            + "), each pinned, until the next one does not fit: "
            + trueRank
            + " adapters resident at their true rank ("
            + slots.usedPages()
            + " pages used), against "
            + padded
            + " slots padded to rank "
            + slots.maxRank()
            + " in the same pages. Exact for the seed (one run, no timing).",
        extras);
  }

  /**
   * Per repetition: a request (1-token prompt, 1 generated token) for a never-used rank-16 adapter
   * on an idle cold-store engine, submit → first token less that of the same request once the
   * adapter is resident (the cold load's own latency), over {@code Files.readAllBytes} of that
   * adapter's two files. Each file is read once untimed first, so the page cache is warm for both;
   * the order of the two timings alternates between repetitions.
   */
  /** Untimed cold loads (adapters 0, 1, ...) before the cold-load repetitions. */
  static final int WARM_COLD_LOADS = 256;

  /** Untimed 1-token requests on a resident adapter before the cold-load repetitions. */
  static final int WARM_REQUESTS = 500;

  static Figure coldLoad(StoreRig rig, int reps, long seed) throws Exception {
    double[] ratio = new double[reps];
    double[] engineMs = new double[reps];
    double[] diskMs = new double[reps];
    double[] hostLoadMs = new double[reps];
    double[] coldMs = new double[reps];
    double[] warmMs = new double[reps];
    SplittableRandom rnd = new SplittableRandom(seed);
    // on the engine's own loop thread, as a consumer runs it: it parks while a request waits for
    // its adapter and wakes when the load or the pool write finishes
    try (Engine e = rig.engine(rig.cold());
        EngineLoop loop = new EngineLoop(e, "bench-engine")) {
      // untimed warm-up, so that both paths timed below run compiled code (a 1-token prefill step
      // takes ~6 ms interpreted and ~0.3 ms compiled on the tiny model): cold loads of adapters the
      // repetitions do not use, then 1-token requests on a resident adapter
      int warmLoads = Math.min(WARM_COLD_LOADS, rig.count() - 4 * reps - 8); // below the timed ones
      for (int i = 0; i < warmLoads; i++) {
        loop.submit(rig.request("warm" + i, 1, 1, StoreRig.id(i), null, rnd)).join();
      }
      for (int i = 0; i < WARM_REQUESTS; i++) {
        loop.submit(rig.request("warm-again" + i, 1, 1, StoreRig.id(0), null, rnd)).join();
      }
      for (int r = 0; r < reps; r++) {
        int index = rig.count() - 3 - 4 * (r + 1); // rank 16: index % 4 == 1 when count % 4 == 0
        String id = StoreRig.id(index);
        if (StoreRig.rankOf(index) != 16) {
          throw new IllegalStateException("--adapters must be a multiple of 4, got " + rig.count());
        }
        Path dir = rig.adapters().resolve(id);
        readAll(dir); // untimed: page cache warm for both
        var before = e.adapterCacheStats();
        if (r % 2 == 0) {
          diskMs[r] = timeRead(dir);
          coldMs[r] = timeFirstToken(rig, loop, id, rnd);
        } else {
          coldMs[r] = timeFirstToken(rig, loop, id, rnd);
          diskMs[r] = timeRead(dir);
        }
        // the same request again, its adapter resident now: what the first token costs anyway
        warmMs[r] = timeFirstToken(rig, loop, id, rnd);
        engineMs[r] = Math.max(0, coldMs[r] - warmMs[r]);
        var after = e.adapterCacheStats();
        hostLoadMs[r] =
            (after.loadNanos() - before.loadNanos())
                / 1e6
                / Math.max(1, after.loadsCompleted() - before.loadsCompleted());
        ratio[r] = engineMs[r] / diskMs[r];
      }
    }
    Map<String, Double> extras = new LinkedHashMap<>();
    extras.put("cold_load_ms_median", dev.lorastream.bench.Stats.median(engineMs));
    extras.put("cold_first_token_ms_median", dev.lorastream.bench.Stats.median(coldMs));
    extras.put("warm_first_token_ms_median", dev.lorastream.bench.Stats.median(warmMs));
    extras.put("disk_read_ms_median", dev.lorastream.bench.Stats.median(diskMs));
    extras.put("host_load_ms_median", dev.lorastream.bench.Stats.median(hostLoadMs));
    return new Figure(
        "cold_load_ratio_vs_disk",
        "<= 1.5",
        ratio,
        "After untimed warm-up (cold loads of up to 256 other adapters, then 500 1-token requests"
            + " on a resident one, so that both paths run compiled code), on an idle engine of the"
            + " cold store run on its own loop thread (EngineLoop, as the consumer runs it; it wakes"
            + " when a load or pool write finishes),"
            + " a request (1-token prompt, 1 generated token) for a"
            + " rank-16 adapter never requested before: the time from submit to its first token"
            + " (GenerationResult.firstTokenNanos: host load on a loader thread, pool write, one"
            + " step) less that of the same request right after, its adapter resident (the step"
            + " and hand-offs any request pays), over Files.readAllBytes of the adapter's"
            + " adapter_config.json and adapter_model.safetensors. Both files are read once untimed before, so the page"
            + " cache is warm for both timings; their order alternates between repetitions. One"
            + " adapter per repetition. host_load_ms is the engine's own count of the host load"
            + " alone (AdapterCacheStats.loadNanos: reading, decoding and checking the adapter on"
            + " a loader thread), so the rest of the cold load is the pool write and the"
            + " hand-offs between threads.",
        extras);
  }

  private static double timeFirstToken(
      StoreRig rig, EngineLoop loop, String id, SplittableRandom rnd) {
    GenerationResult res = loop.submit(rig.request("cold-" + id, 1, 1, id, null, rnd)).join();
    if (!res.ok()) {
      throw new IllegalStateException("cold load of " + id + " failed: " + res.errorCode());
    }
    return res.firstTokenNanos() / 1e6;
  }

  private static double timeRead(Path dir) throws Exception {
    long t0 = System.nanoTime();
    long bytes = readAll(dir);
    double ms = (System.nanoTime() - t0) / 1e6;
    if (bytes == 0) {
      throw new IllegalStateException("adapter files in " + dir + " are empty");
    }
    return ms;
  }

  private static long readAll(Path dir) throws Exception {
    return Files.readAllBytes(dir.resolve("adapter_config.json")).length
        + Files.readAllBytes(dir.resolve(LoraAdapter.WEIGHTS_FILE)).length;
  }
}
