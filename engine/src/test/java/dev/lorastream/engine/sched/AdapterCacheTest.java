package dev.lorastream.engine.sched;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.engine.config.ModelConfig;
import dev.lorastream.engine.lora.LoraAdapter;
import dev.lorastream.engine.testdata.AdapterGenerator;
import dev.lorastream.engine.testdata.ModelGenerator;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The host adapter tier: LRU eviction by bytes, failures forgotten after their TTL, invalidation,
 * and its counters. Loads run on the test thread (at once, or when the test runs them), and the
 * clocks are the test's, so nothing sleeps.
 */
class AdapterCacheTest {
  private static final long LOAD_NANOS = 7_000_000; // every load takes 7 ms on the fake clock
  private static final long TTL = 10_000;

  @TempDir static Path tmp;
  static LoraAdapter r4a; // rank 4: S bytes
  static LoraAdapter r4b; // rank 4: S bytes
  static LoraAdapter r8; // rank 8: 2·S bytes
  static LoraAdapter r16; // rank 16: 4·S bytes
  static long s;

  private final Map<String, LoraAdapter> catalog = new ConcurrentHashMap<>();
  private final ArrayDeque<Runnable> pending = new ArrayDeque<>();
  private long nowMs = 1_000;
  private long nanos;

  @BeforeAll
  static void adapters() throws Exception {
    Path model = tmp.resolve("m");
    ModelGenerator.make("tiny", ModelGenerator.Options.defaults(), model);
    Path out = tmp.resolve("adapters");
    AdapterGenerator.make(
        model, 4, AdapterGenerator.Options.defaults().withRanks(4, 4, 8, 16), out);
    ModelConfig cfg = ModelConfig.load(model);
    LoraAdapter[] a = new LoraAdapter[4];
    for (int i = 0; i < 4; i++) {
      a[i] = LoraAdapter.load(out.resolve(AdapterGenerator.adapterName(i)), cfg, 64);
    }
    r4a = a[0];
    r4b = a[1];
    r8 = a[2];
    r16 = a[3];
    s = r4a.bytes();
    assertTrue(s > 0);
    assertEquals(s, r4b.bytes());
    assertEquals(2 * s, r8.bytes(), "bytes grow with the rank");
    assertEquals(4 * s, r16.bytes());
  }

  /** A cache over {@link #catalog}; loads run at once, or with {@code queued} when run. */
  private AdapterCache cache(long budget, long ttl, boolean queued) {
    Executor ex = queued ? pending::add : Runnable::run;
    return new AdapterCache(
        id -> {
          LoraAdapter a = catalog.get(id);
          if (a == null) {
            throw new NoSuchElementException("no adapter '" + id + "'");
          }
          return a;
        },
        ex,
        budget,
        ttl,
        () -> nowMs,
        () -> nanos += LOAD_NANOS, // read at the start and end of each load
        a -> {});
  }

  private void runOneLoad() {
    pending.remove().run();
  }

  @Test
  void evictsTheLeastRecentlyUsedLoadedAdaptersDownToTheByteBudget() {
    catalog.putAll(Map.of("a", r4a, "b", r4b, "c", r8, "d", r16));
    AdapterCache c = cache(3 * s, TTL, false);
    c.prefetch("a");
    c.prefetch("b");
    assertEquals(List.of("a", "b"), c.residents());

    c.prefetch("c"); // 4S > 3S: a, the least recently used, goes
    assertEquals(List.of("b", "c"), c.residents());

    assertSame(r4b, c.readyOrNull("b")); // b is now the most recently used
    c.prefetch("a"); // 4S again: c goes, not b
    assertEquals(List.of("b", "a"), c.residents());

    c.prefetch("d"); // 4S alone is over the budget: every other adapter goes, d is still kept
    assertEquals(List.of("d"), c.residents());
    assertSame(r16, c.readyOrNull("d"), "an adapter larger than the budget is served");
    assertEquals(4 * s, c.stats().residentBytes());

    c.prefetch("a"); // the next completed load evicts it
    assertEquals(List.of("a"), c.residents());
    c.prefetch("a"); // loaded: a hit

    assertEquals(
        new AdapterCacheStats(1, 6, 0, 5, 9 * s, s, 1, 6, 6 * LOAD_NANOS),
        c.stats(),
        "evicted a, c, b, a, d (S + 2S + S + S + 4S)");
  }

  @Test
  void anAdapterStillLoadingCountsNothingAndIsNeverEvicted() {
    catalog.putAll(Map.of("x", r16, "a", r4a, "b", r4b, "c", r8));
    AdapterCache c = cache(2 * s, TTL, true);
    c.prefetch("x");
    c.prefetch("a");
    c.prefetch("b");
    c.prefetch("c");
    c.prefetch("x"); // loading: a hit
    assertEquals(new AdapterCacheStats(1, 4, 0, 0, 0, 0, 0, 0, 0), c.stats());

    Runnable xLoad = pending.removeFirst(); // x stays loading while a, b and c load
    runOneLoad();
    runOneLoad();
    assertEquals(List.of("a", "b"), c.residents());
    runOneLoad(); // c: 4S > 2S; x, first in LRU order, is loading: a and b go
    assertEquals(List.of("c"), c.residents());
    c.prefetch("x"); // still there, still loading: another hit, no new load
    assertEquals(0, pending.size());

    xLoad.run(); // x: 6S > 2S; c goes, x stays
    assertEquals(List.of("x"), c.residents());
    assertEquals(new AdapterCacheStats(2, 4, 0, 3, 4 * s, 4 * s, 1, 4, 4 * LOAD_NANOS), c.stats());
  }

  @Test
  void aFailedLoadIsRememberedForTheTtlThenAFixedSourceLoads() {
    AdapterCache c = cache(4 * s, TTL, false);
    c.prefetch("a");
    assertInstanceOf(NoSuchElementException.class, c.failure("a"));
    assertEquals("no adapter 'a'", c.failure("a").getMessage());
    assertNull(c.readyOrNull("a"), "failed: nothing to serve, and no new load");

    catalog.put("a", r4a); // fixed, but the failure is remembered
    nowMs += TTL - 1;
    c.prefetch("a");
    c.forgetExpiredFailures();
    assertInstanceOf(NoSuchElementException.class, c.failure("a"));
    assertEquals(1, c.stats().misses(), "no load started within the TTL");

    nowMs += 1;
    c.prefetch("a"); // the TTL has passed: a fresh load
    assertNull(c.failure("a"));
    assertSame(r4a, c.readyOrNull("a"));
    assertEquals(new AdapterCacheStats(0, 2, 1, 0, 0, s, 1, 2, 2 * LOAD_NANOS), c.stats());
  }

  @Test
  void anExpiredFailureIsForgottenByTheEngineStepsPassSoTheNextRequestLoads() {
    AdapterCache c = cache(4 * s, TTL, false);
    c.prefetch("a");
    assertTrue(c.failure("a") != null);
    nowMs += TTL;
    c.forgetExpiredFailures();
    assertNull(c.failure("a"), "forgotten");
    catalog.put("a", r4a);
    assertNull(c.readyOrNull("a"), "absent: a new load starts (here at once)");
    assertSame(r4a, c.readyOrNull("a"));
    assertEquals(2, c.stats().misses());
  }

  @Test
  void withATtlOfZeroTheRequestsWaitingForAFailedLoadStillGetItsError() {
    AdapterCache c = cache(4 * s, 0, false);
    c.prefetch("a"); // fails after the step answered its waiting requests
    c.prefetch("a"); // another request before any step: the failure stays
    c.forgetExpiredFailures(); // that step's pass: first sight, kept
    assertInstanceOf(NoSuchElementException.class, c.failure("a"), "the next step answers");
    c.forgetExpiredFailures();
    assertNull(c.failure("a"), "then forgotten");
    catalog.put("a", r4a);
    c.prefetch("a");
    assertSame(r4a, c.readyOrNull("a"));
    assertEquals(new AdapterCacheStats(0, 2, 1, 0, 0, s, 1, 2, 2 * LOAD_NANOS), c.stats());
  }

  @Test
  void invalidationForgetsALoadedALoadingAndAFailedAdapter() {
    catalog.putAll(Map.of("loaded", r4a, "loading", r8));
    AdapterCache c = cache(4 * s, TTL, true);
    c.prefetch("loaded");
    runOneLoad();
    c.prefetch("loading");
    c.prefetch("failed");
    Runnable staleLoad = pending.removeFirst(); // "loading" stays loading
    runOneLoad();
    assertEquals(List.of("loaded"), c.residents());
    assertTrue(c.failure("failed") != null);

    assertTrue(c.invalidate("loaded"));
    assertTrue(c.invalidate("loading"));
    assertTrue(c.invalidate("failed"));
    assertFalse(c.invalidate("none"));
    assertEquals(List.of(), c.residents());
    assertNull(c.failure("failed"));
    staleLoad.run(); // the invalidated load finishes: its adapter is never used
    assertEquals(List.of(), c.residents());
    assertEquals(new AdapterCacheStats(0, 3, 1, 0, 0, 0, 0, 3, 3 * LOAD_NANOS), c.stats());

    catalog.put("failed", r4b); // the catalog entry changed, which is why it was invalidated
    c.prefetch("loaded");
    c.prefetch("loading");
    c.prefetch("failed");
    assertEquals(3, pending.size(), "three fresh loads");
    while (!pending.isEmpty()) {
      runOneLoad();
    }
    assertEquals(List.of("loaded", "loading", "failed"), c.residents());
    assertSame(r8, c.readyOrNull("loading"));
    assertEquals(new AdapterCacheStats(0, 6, 1, 0, 0, 4 * s, 3, 6, 6 * LOAD_NANOS), c.stats());
  }

  @Test
  void tiersTellLoadedLoadingAndFailedWithoutTouchingTheLruOrderOrCounters() {
    catalog.putAll(Map.of("a", r4a, "b", r4b));
    AdapterCache c = cache(3 * s, TTL, true);
    c.prefetch("a");
    c.prefetch("b");
    c.prefetch("gone");
    runOneLoad(); // a
    runOneLoad(); // b
    assertEquals(
        Map.of(
            "a", AdapterInfo.Tier.HOST,
            "b", AdapterInfo.Tier.HOST,
            "gone", AdapterInfo.Tier.LOADING),
        c.tiers());
    c.prefetch("c"); // another load, left waiting
    runOneLoad(); // gone fails
    assertEquals(
        Map.of(
            "a", AdapterInfo.Tier.HOST,
            "b", AdapterInfo.Tier.HOST,
            "gone", AdapterInfo.Tier.NONE,
            "c", AdapterInfo.Tier.LOADING),
        c.tiers());
    AdapterCacheStats before = c.stats();
    c.tiers();
    assertEquals(List.of("a", "b"), c.residents(), "a is still the least recently used");
    assertEquals(before, c.stats());
  }

  @Test
  void aBudgetOrTtlOutOfRangeIsRefused() {
    assertThrows(IllegalArgumentException.class, () -> cache(0, TTL, false));
    assertThrows(IllegalArgumentException.class, () -> cache(s, -1, false));
  }
}
