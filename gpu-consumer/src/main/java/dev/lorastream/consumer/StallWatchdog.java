package dev.lorastream.consumer;

import java.io.Closeable;
import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * Closes a stream when no progress was reported for a while, so that a read blocked on a server
 * that stopped sending (after its headers, which the HTTP client's own timeout covers) fails
 * instead of holding an adapter loader thread forever. Closing the JDK HTTP client's body stream
 * from another thread makes a blocked {@code read} throw. One daemon thread checks every watched
 * stream. Use: report {@link #progress} after each read, and close the watchdog when done.
 */
final class StallWatchdog implements AutoCloseable {

  private static final ScheduledExecutorService CHECKER =
      Executors.newSingleThreadScheduledExecutor(
          r -> {
            Thread t = new Thread(r, "adapter-download-watchdog");
            t.setDaemon(true);
            return t;
          });

  private final Closeable stream;
  private final long stallNanos;
  private final ScheduledFuture<?> check;
  private volatile long lastProgress = System.nanoTime();
  private volatile boolean fired;

  /** Watches {@code stream}: closed once {@code stall} passes without {@link #progress}. */
  StallWatchdog(Closeable stream, Duration stall) {
    this.stream = stream;
    this.stallNanos = stall.toNanos();
    long period = Math.max(10, stall.toMillis() / 4);
    this.check = CHECKER.scheduleAtFixedRate(this::check, period, period, TimeUnit.MILLISECONDS);
  }

  /** Some bytes arrived. */
  void progress() {
    lastProgress = System.nanoTime();
  }

  /** True when the stream was closed for stalling (a read failure then means a timeout). */
  boolean fired() {
    return fired;
  }

  private void check() {
    if (!fired && System.nanoTime() - lastProgress > stallNanos) {
      fired = true;
      try {
        stream.close();
      } catch (IOException | RuntimeException e) {
        // the reader fails either way: its stream is closed or it ends on its own
      }
      check.cancel(false);
    }
  }

  @Override
  public void close() {
    check.cancel(false);
  }
}
