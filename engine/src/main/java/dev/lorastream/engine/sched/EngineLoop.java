package dev.lorastream.engine.sched;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.locks.LockSupport;

/**
 * Runs an {@link Engine} on its own thread: steps while there is work, parks when idle or when
 * every waiting request waits for an adapter, wakes on {@link #submit}, {@link #cancel} and when an
 * adapter's load or pool write finishes. A step that throws fails every request in flight with
 * INTERNAL (via {@link #onFatal}) and stops the loop, so that a service can exit and have its batch
 * redelivered rather than hang.
 */
public final class EngineLoop implements AutoCloseable {
  private final Engine engine;
  private final Thread thread;
  private volatile boolean running = true;
  private volatile Throwable fatal;

  public EngineLoop(Engine engine, String name) {
    this.engine = engine;
    this.thread = new Thread(this::run, name);
    this.thread.setDaemon(true);
    engine.onAdapterProgress(() -> LockSupport.unpark(thread)); // a waiting request may run now
    this.thread.start();
  }

  /** Thread-safe. */
  public CompletableFuture<GenerationResult> submit(GenerationRequest r) {
    if (fatal != null) {
      throw new IllegalStateException("the engine loop stopped after an error", fatal);
    }
    CompletableFuture<GenerationResult> f = engine.submit(r);
    LockSupport.unpark(thread);
    return f;
  }

  /** {@link Engine#submit(GenerationRequest, TokenListener)}. Thread-safe. */
  public CompletableFuture<GenerationResult> submit(GenerationRequest r, TokenListener tokens) {
    if (fatal != null) {
      throw new IllegalStateException("the engine loop stopped after an error", fatal);
    }
    CompletableFuture<GenerationResult> f = engine.submit(r, tokens);
    LockSupport.unpark(thread);
    return f;
  }

  /** {@link Engine#cancel}, waking the loop so that it is applied at once. Thread-safe. */
  public void cancel(String id) {
    engine.cancel(id);
    LockSupport.unpark(thread);
  }

  /** The error that stopped the loop, or null while it runs. */
  public Throwable fatal() {
    return fatal;
  }

  public Engine engine() {
    return engine;
  }

  private void run() {
    try {
      while (running) {
        if (!engine.step()) {
          LockSupport.parkNanos(engine.idle() ? 50_000_000L : 1_000_000L);
        }
      }
    } catch (Throwable t) {
      fatal = t;
      engine.failAll(EngineError.INTERNAL, "the engine failed: " + t);
    }
  }

  @Override
  public void close() {
    running = false;
    LockSupport.unpark(thread);
    try {
      thread.join(10_000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
