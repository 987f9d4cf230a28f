package dev.lorastream.engine.sched;

import dev.lorastream.engine.lora.AdapterSource;
import dev.lorastream.engine.lora.LoraAdapter;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executor;
import java.util.function.Consumer;
import java.util.function.LongSupplier;

/**
 * Adapters in host memory (the host tier): an LRU of loads, filled on a background executor so that
 * the engine thread never blocks on disk, and bounded by the bytes of the loaded adapters ({@link
 * LoraAdapter#bytes}).
 *
 * <p><b>Eviction.</b> When a load completes, the least recently used <em>loaded</em> entries are
 * evicted until the loaded bytes are within the budget. An entry still loading, or whose load
 * failed, counts 0 bytes and is never evicted for room. The adapter whose load triggered the pass
 * is never evicted by it: an adapter larger than the whole budget is still served, and stays until
 * the next pass (the next completed load) evicts it. Evicting an adapter that running sequences use
 * is harmless: {@link dev.lorastream.engine.lora.AdapterSlots} copied its weights into the backend
 * slot buffers at acquire, and a slot is reused only for the very loaded copy written into it, so a
 * reload after eviction makes a fresh copy that gets a fresh slot write (the evicted copy stays
 * reachable from its slot until that slot is reused, which is heap the budget does not see: at most
 * one adapter per backend slot).
 *
 * <p><b>Failures.</b> A failed load is remembered so that the requests waiting for it get an error
 * reply ({@link #failure}); it is forgotten {@code failureTtlMs} after it failed, so that a later
 * request tries again (a fixed file, a source that was briefly unreachable). Every request waiting
 * when the load failed gets the error whatever the TTL: {@link #failure} answers while the entry is
 * there, and {@link #forgetExpiredFailures}, which the engine thread calls after answering the
 * waiting requests of a step, removes only failures that an earlier such step has seen.
 *
 * <p>Thread-safe: every method but the loads holds this object's lock; the loads run on the
 * executor.
 */
final class AdapterCache {
  private final AdapterSource source;
  private final Executor executor;
  private final Consumer<LoraAdapter> check;
  private volatile Runnable onLoaded = () -> {};
  private final long budgetBytes;
  private final long failureTtlMs;
  private final LongSupplier clockMs;
  private final LongSupplier nanos;
  private final LinkedHashMap<String, Entry> cache = new LinkedHashMap<>(16, 0.75f, true);
  private final ArrayDeque<Entry> failures = new ArrayDeque<>(); // by failure time
  private final Object loadSignal = new Object();
  private long residentBytes;
  private int residentEntries;
  private long hits;
  private long misses;
  private long failed;
  private long evictions;
  private long evictedBytes;
  private long loadsCompleted;
  private long loadNanos;

  /** One adapter id's load: loading, loaded ({@code adapter} set) or failed ({@code error} set). */
  private static final class Entry {
    final String id;
    boolean live = true; // false once removed from the map: a late load result is then dropped
    LoraAdapter adapter;
    Throwable error;
    long failedAtMs;
    // failed, and the requests that waited for it were answered: failure() reported it, or a
    // forgetExpiredFailures() pass (which runs after the engine answers them) saw it
    boolean settled;

    Entry(String id) {
      this.id = id;
    }
  }

  /**
   * @param budgetBytes the most bytes of loaded adapters kept ({@code
   *     lorastream.adapters.host-cache-bytes})
   * @param failureTtlMs how long a failed load is remembered ({@code
   *     lorastream.adapters.failure-ttl-ms})
   * @param clockMs the clock failures age on, in milliseconds (the engine's)
   * @param nanos the clock load durations are measured on ({@link System#nanoTime})
   * @param check run on the loaded adapter, on the loader thread; what it throws fails the load
   */
  AdapterCache(
      AdapterSource source,
      Executor executor,
      long budgetBytes,
      long failureTtlMs,
      LongSupplier clockMs,
      LongSupplier nanos,
      Consumer<LoraAdapter> check) {
    if (budgetBytes <= 0 || failureTtlMs < 0) {
      throw new IllegalArgumentException(
          "budgetBytes must be positive and failureTtlMs at least 0, got "
              + budgetBytes
              + " and "
              + failureTtlMs);
    }
    this.source = source;
    this.executor = executor;
    this.budgetBytes = budgetBytes;
    this.failureTtlMs = failureTtlMs;
    this.clockMs = clockMs;
    this.nanos = nanos;
    this.check = check;
  }

  /**
   * A request for the adapter arrived: starts loading it unless it is loaded, loading, or its
   * failure is remembered. Counts a hit when it is loaded or loading, a miss when a load starts.
   */
  synchronized void prefetch(String id) {
    Entry e = live(id, clockMs.getAsLong());
    if (e == null) {
      startLoad(id);
    } else if (e.error == null) {
      hits++;
    }
  }

  /**
   * The adapter's entry (now the most recently used), or null when there is none or its failure has
   * expired (then it is removed, so that a new load may start).
   */
  private Entry live(String id, long nowMs) {
    Entry e = cache.get(id);
    if (e != null && e.error != null && expired(e, nowMs)) {
      remove(e);
      return null;
    }
    return e;
  }

  /**
   * A request for the adapter arrived behind the look-ahead: counts a hit when it is loaded or
   * loading, and starts nothing (the step that brings it within the look-ahead does).
   */
  synchronized void countRequest(String id) {
    Entry e = cache.get(id);
    if (e != null && e.error == null) {
      hits++;
    }
  }

  private void startLoad(String id) {
    Entry e = new Entry(id);
    cache.put(id, e);
    misses++;
    executor.execute(() -> load(e));
  }

  private void load(Entry e) {
    long t0 = nanos.getAsLong();
    LoraAdapter a = null;
    Throwable error = null;
    try {
      a = source.load(e.id);
      check.accept(a);
    } catch (Throwable t) {
      error = t instanceof CompletionException && t.getCause() != null ? t.getCause() : t;
    }
    long took = nanos.getAsLong() - t0;
    synchronized (this) {
      loadsCompleted++;
      loadNanos += took;
      if (error != null) {
        failed++;
        if (e.live) {
          e.error = error;
          e.failedAtMs = clockMs.getAsLong();
          failures.add(e);
        }
      } else if (e.live) {
        e.adapter = a;
        residentBytes += a.bytes();
        residentEntries++;
        evictFor(e);
      }
    }
    synchronized (loadSignal) {
      loadSignal.notifyAll();
    }
    onLoaded.run();
  }

  /** Run on the loader thread each time a load finishes, failed or not. */
  void onLoaded(Runnable r) {
    onLoaded = r;
  }

  /** Evicts least recently used loaded entries, but not {@code keep}, down to the budget. */
  private void evictFor(Entry keep) {
    Iterator<Entry> it = cache.values().iterator(); // least recently used first
    while (residentBytes > budgetBytes && it.hasNext()) {
      Entry x = it.next();
      if (x == keep || x.adapter == null) {
        continue;
      }
      it.remove();
      x.live = false;
      long b = x.adapter.bytes();
      residentBytes -= b;
      residentEntries--;
      evictions++;
      evictedBytes += b;
    }
  }

  private void remove(Entry e) {
    cache.remove(e.id);
    e.live = false;
    if (e.adapter != null) {
      residentBytes -= e.adapter.bytes();
      residentEntries--;
    }
  }

  private boolean expired(Entry e, long nowMs) {
    long age = nowMs - e.failedAtMs;
    return e.settled && (age >= failureTtlMs || age < 0); // < 0: the clock was set back
  }

  /**
   * Forgets the adapter, loaded, loading or failed: the next request starts a fresh load. A load in
   * flight is left to finish and its result is never used. Returns whether there was an entry.
   */
  synchronized boolean invalidate(String id) {
    Entry e = cache.get(id);
    if (e == null) {
      return false;
    }
    remove(e);
    return true;
  }

  /**
   * How many distinct adapters of queued requests the engine keeps loaded ahead of admission: as
   * many as half the budget holds at the mean size of the loaded adapters (2 before any is loaded),
   * between 1 and 64.
   */
  synchronized int lookahead() {
    if (residentEntries == 0) {
      return 2;
    }
    long mean = Math.max(1, residentBytes / residentEntries);
    return (int) Math.clamp(budgetBytes / 2 / mean, 1, 64);
  }

  /**
   * The adapters of the requests next in line, first first: each one not here starts loading (a
   * miss), and they become the most recently used, the first the most, so that the loads of
   * requests further back evict other adapters before them. Counts no hits.
   */
  synchronized void keepLoaded(List<String> ids) {
    long now = clockMs.getAsLong();
    for (int i = ids.size() - 1; i >= 0; i--) {
      if (live(ids.get(i), now) == null) {
        startLoad(ids.get(i));
      }
    }
  }

  /**
   * The loaded adapter, or null while it is loading or when its load failed. Starts a load (a miss)
   * when the adapter is not there at all (evicted or invalidated since the request arrived).
   */
  synchronized LoraAdapter readyOrNull(String id) {
    Entry e = cache.get(id);
    if (e == null) {
      startLoad(id);
      return null;
    }
    return e.adapter;
  }

  /**
   * The loaded adapter, or null while it is loading, when its load failed, or when it is not here
   * (then no load starts: {@link #keepLoaded} starts the loads of the requests next in line, so
   * that a request looked at further back does not evict them).
   */
  synchronized LoraAdapter loadedOrNull(String id) {
    Entry e = cache.get(id);
    return e == null ? null : e.adapter;
  }

  /** Why the adapter failed to load, or null; the waiting request is answered with it. */
  synchronized Throwable failure(String id) {
    Entry e = cache.get(id);
    if (e == null || e.error == null) {
      return null;
    }
    e.settled = true;
    return e.error;
  }

  /**
   * Forgets failures older than the TTL. Called on the engine thread after each step's waiting
   * requests were answered with {@link #failure}: a failure is removed (and replaced by a fresh
   * load at {@link #prefetch}) only once it was reported or an earlier pass saw it, so that a
   * request waiting for the failed load is answered with its error even when the TTL is shorter
   * than a step.
   */
  synchronized void forgetExpiredFailures() {
    if (failures.isEmpty()) {
      return;
    }
    long now = clockMs.getAsLong();
    for (Iterator<Entry> it = failures.iterator(); it.hasNext(); ) {
      Entry e = it.next();
      if (!e.live) {
        it.remove(); // invalidated or replaced meanwhile
      } else if (expired(e, now)) {
        it.remove();
        remove(e);
      } else {
        e.settled = true;
      }
    }
  }

  /**
   * The host tier of every adapter the cache knows now: {@link AdapterInfo.Tier#HOST} when loaded,
   * {@link AdapterInfo.Tier#LOADING} while its load runs, {@link AdapterInfo.Tier#NONE} when its
   * load failed; an adapter not in the map is {@code NONE} too. Walks the entries rather than
   * looking ids up, so that reading it is no use of an adapter: the LRU order and the counters stay
   * as they are.
   */
  synchronized Map<String, AdapterInfo.Tier> tiers() {
    Map<String, AdapterInfo.Tier> out = new HashMap<>();
    for (Entry e : cache.values()) {
      out.put(
          e.id,
          e.error != null
              ? AdapterInfo.Tier.NONE
              : e.adapter != null ? AdapterInfo.Tier.HOST : AdapterInfo.Tier.LOADING);
    }
    return out;
  }

  /** Ids of the loaded adapters, least recently used first (for tests and diagnostics). */
  synchronized List<String> residents() {
    List<String> out = new ArrayList<>();
    for (Entry e : cache.values()) {
      if (e.adapter != null) {
        out.add(e.id);
      }
    }
    return out;
  }

  /** The counters and the resident set's size now. */
  synchronized AdapterCacheStats stats() {
    return new AdapterCacheStats(
        hits,
        misses,
        failed,
        evictions,
        evictedBytes,
        residentBytes,
        residentEntries,
        loadsCompleted,
        loadNanos);
  }

  /** Waits briefly for some load to finish (when nothing else can run). */
  void awaitAnyLoad() {
    synchronized (loadSignal) {
      try {
        loadSignal.wait(5);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }
}
