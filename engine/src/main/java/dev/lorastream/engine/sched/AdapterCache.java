package dev.lorastream.engine.sched;

import dev.lorastream.engine.lora.AdapterSource;
import dev.lorastream.engine.lora.LoraAdapter;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * Adapters in host memory: an LRU of load futures, filled on a background executor so that the
 * engine thread never blocks on disk. A failed load is remembered (so its requests get an error
 * reply) until evicted or {@link #invalidate invalidated}. Thread-safe (every method but the loads
 * is synchronized); the loads run on the executor.
 */
final class AdapterCache {
  private final AdapterSource source;
  private final ExecutorService executor;
  private final Consumer<LoraAdapter> check;
  private final Map<String, CompletableFuture<LoraAdapter>> cache;
  private final Object loadSignal = new Object();
  private long loads;

  AdapterCache(
      AdapterSource source, ExecutorService executor, int capacity, Consumer<LoraAdapter> check) {
    this.source = source;
    this.executor = executor;
    this.check = check;
    this.cache =
        new LinkedHashMap<>(16, 0.75f, true) {
          @Override
          protected boolean removeEldestEntry(Map.Entry<String, CompletableFuture<LoraAdapter>> e) {
            return size() > capacity && e.getValue().isDone();
          }
        };
  }

  /** Starts loading the adapter unless it is loaded or loading. Thread-safe. */
  synchronized void prefetch(String id) {
    cache.computeIfAbsent(id, this::startLoad);
  }

  private CompletableFuture<LoraAdapter> startLoad(String id) {
    loads++;
    return CompletableFuture.supplyAsync(
            () -> {
              try {
                LoraAdapter a = source.load(id);
                check.accept(a);
                return a;
              } catch (RuntimeException e) {
                throw e;
              } catch (Exception e) {
                throw new CompletionException(e);
              }
            },
            executor)
        .whenComplete(
            (a, t) -> {
              synchronized (loadSignal) {
                loadSignal.notifyAll();
              }
            });
  }

  /**
   * Forgets the adapter, loaded, loading or failed: the next request starts a fresh load. A load in
   * flight is left to finish and its result is never used. Returns whether there was an entry.
   */
  synchronized boolean invalidate(String id) {
    return cache.remove(id) != null;
  }

  /** The loaded adapter, or null while it is loading or when its load failed. */
  synchronized LoraAdapter readyOrNull(String id) {
    CompletableFuture<LoraAdapter> f = cache.computeIfAbsent(id, this::startLoad);
    return f.isDone() && !f.isCompletedExceptionally() ? f.join() : null;
  }

  /** Why the adapter failed to load, or null. */
  synchronized Throwable failure(String id) {
    CompletableFuture<LoraAdapter> f = cache.get(id);
    if (f == null || !f.isCompletedExceptionally()) {
      return null;
    }
    try {
      f.join();
      return null;
    } catch (CompletionException e) {
      return e.getCause() != null ? e.getCause() : e;
    } catch (java.util.concurrent.CancellationException e) {
      return e;
    }
  }

  /** Number of loads started (host cache misses). */
  synchronized long loads() {
    return loads;
  }

  /** Waits briefly for some load to finish (when nothing else can run). */
  void awaitAnyLoad() {
    synchronized (loadSignal) {
      try {
        loadSignal.wait(TimeUnit.MILLISECONDS.toMillis(5));
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }
}
