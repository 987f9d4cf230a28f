package dev.lorastream.ingest.bulk;

import java.io.PrintWriter;
import java.util.Locale;
import java.util.function.LongSupplier;

/**
 * The {@code bulk} progress bar on stderr: done/total, percent, rate, ETA and failures. On a
 * terminal it redraws one line with {@code \r} (at most every 100 ms); otherwise (a log file, CI)
 * it prints a whole line at each 10 % step and at least every 10 s, so logs stay readable.
 * Thread-safe.
 */
public final class Progress {
  private static final long REDRAW_NANOS = 100_000_000L;
  private static final long LINE_NANOS = 10_000_000_000L;
  private static final int BAR = 24;

  private final int total;
  private final PrintWriter out;
  private final boolean terminal;
  private final LongSupplier clock; // nanoseconds
  private final long start;
  private int done;
  private int failed;
  private long lastDraw;
  private int lastDecile;

  public Progress(int total, PrintWriter out, boolean terminal, LongSupplier nanoClock) {
    this.total = total;
    this.out = out;
    this.terminal = terminal;
    this.clock = nanoClock;
    this.start = nanoClock.getAsLong();
    this.lastDraw = start;
  }

  /** One more document finished. */
  public synchronized void advance(boolean ok) {
    done++;
    if (!ok) {
      failed++;
    }
    long now = clock.getAsLong();
    int decile = total == 0 ? 10 : done * 10 / total;
    boolean due =
        terminal
            ? now - lastDraw >= REDRAW_NANOS
            : now - lastDraw >= LINE_NANOS || decile > lastDecile;
    if (due && done < total) {
      draw(now);
      lastDecile = decile;
    }
  }

  /** Draws the final state and ends the line. */
  public synchronized void finish() {
    draw(clock.getAsLong());
    if (terminal) {
      out.print('\n');
    }
    out.flush();
  }

  private void draw(long now) {
    lastDraw = now;
    String line = format(done, total, failed, (now - start) / 1e9);
    if (terminal) {
      out.print("\r" + line + "\u001b[K"); // erase what a longer previous line left
    } else {
      out.println(line);
    }
    out.flush();
  }

  /** E.g. {@code [############------------] 50/100 50% 12.5/s ETA 0:04 2 failed}. */
  public static String format(int done, int total, int failed, double elapsedSeconds) {
    double fraction = total == 0 ? 1 : Math.min(1, (double) done / total);
    int filled = (int) Math.round(fraction * BAR);
    StringBuilder s = new StringBuilder(96).append('[');
    s.append("#".repeat(filled)).append("-".repeat(BAR - filled)).append("] ");
    s.append(done).append('/').append(total);
    s.append(String.format(Locale.ROOT, "  %3d%%", (int) Math.floor(fraction * 100)));
    double rate = elapsedSeconds > 0 ? done / elapsedSeconds : 0;
    s.append(String.format(Locale.ROOT, "  %.1f/s", rate));
    if (done >= total) {
      s.append("  in ").append(clock(elapsedSeconds));
    } else {
      s.append("  ETA ").append(rate > 0 ? clock((total - done) / rate) : "--:--");
    }
    if (failed > 0) {
      s.append("  ").append(failed).append(" failed");
    }
    return s.toString();
  }

  /** {@code m:ss}, or {@code h:mm:ss} from an hour on. */
  static String clock(double seconds) {
    long s = Math.round(seconds);
    if (s >= 3600) {
      return String.format(Locale.ROOT, "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60);
    }
    return String.format(Locale.ROOT, "%d:%02d", s / 60, s % 60);
  }
}
