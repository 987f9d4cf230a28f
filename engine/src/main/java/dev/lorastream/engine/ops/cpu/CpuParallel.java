package dev.lorastream.engine.ops.cpu;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A fixed pool of worker threads that runs "for each index in [0, n)" loops in chunks. The calling
 * thread works too, so a pool of {@code threads} uses {@code threads - 1} workers. Chunks are
 * claimed from a shared counter, so uneven work (skewed LoRA segments) balances itself, and a loop
 * does not wait for a worker that has not started by the time every chunk is claimed.
 *
 * <p>Thread-safe; one loop may run while another runs (they share the workers). Workers are daemon
 * threads.
 */
final class CpuParallel implements AutoCloseable {

  /** The body of a parallel loop: handles indices {@code [from, to)}. */
  @FunctionalInterface
  interface RangeBody {
    void run(int from, int to);
  }

  private final int threads;
  private final ExecutorService workers;

  CpuParallel(int threads) {
    if (threads < 1) {
      throw new IllegalArgumentException(
          "lorastream.cpu.threads = " + threads + " must be at least 1");
    }
    this.threads = threads;
    AtomicInteger count = new AtomicInteger();
    this.workers =
        threads == 1
            ? null
            : Executors.newFixedThreadPool(
                threads - 1,
                r -> {
                  Thread t = new Thread(r, "lorastream-cpu-" + count.incrementAndGet());
                  t.setDaemon(true);
                  return t;
                });
  }

  int threads() {
    return threads;
  }

  /**
   * Runs {@code body} over {@code [0, n)} in chunks of {@code grain} indices; returns when all are
   * done. Exceptions from any chunk are rethrown here.
   */
  void forRange(int n, int grain, RangeBody body) {
    int chunks = (n + grain - 1) / grain;
    if (chunks <= 1 || workers == null) {
      if (n > 0) {
        body.run(0, n);
      }
      return;
    }
    AtomicInteger next = new AtomicInteger();
    Runnable task =
        () -> {
          for (int c = next.getAndIncrement(); c < chunks; c = next.getAndIncrement()) {
            body.run(c * grain, Math.min(n, (c + 1) * grain));
          }
        };
    int helpers = Math.min(threads, chunks) - 1;
    List<Future<?>> futures = new ArrayList<>(helpers);
    // a helper runs only if it claims its flag before the caller does (after its own chunks): so
    // the caller never waits for a worker that the OS has not run yet, and never returns while a
    // helper that started still works on a chunk
    AtomicBoolean[] claimed = new AtomicBoolean[helpers];
    for (int i = 0; i < helpers; i++) {
      AtomicBoolean mine = claimed[i] = new AtomicBoolean();
      futures.add(
          workers.submit(
              () -> {
                if (mine.compareAndSet(false, true)) {
                  task.run();
                }
              }));
    }
    RuntimeException failure = null;
    try {
      task.run();
    } catch (RuntimeException e) {
      failure = e;
      next.set(chunks); // stop handing out chunks
    }
    for (int i = 0; i < helpers; i++) {
      if (claimed[i].compareAndSet(false, true)) {
        continue; // not started: it will find its flag taken and do nothing
      }
      try {
        futures.get(i).get();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException("interrupted while waiting for CPU workers", e);
      } catch (ExecutionException e) {
        if (failure == null) {
          failure =
              e.getCause() instanceof RuntimeException r
                  ? r
                  : new IllegalStateException(e.getCause());
        }
      }
    }
    if (failure != null) {
      throw failure;
    }
  }

  /**
   * A grain that gives each thread about {@code perThread} chunks of {@code n} indices (at least
   * 1).
   */
  int grain(int n, int perThread) {
    return Math.max(1, n / (threads * perThread));
  }

  @Override
  public void close() {
    if (workers != null) {
      workers.shutdownNow();
    }
  }
}
