package dev.lorastream.bench;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.ToDoubleFunction;
import javax.imageio.ImageIO;

/**
 * Draws plot.png with java.awt, headless: generated tok/s (top) and TPOT p50 (bottom) against
 * adapter count on a log axis. hetero:N is a line over N, serial:N a point at its N, base and
 * adapter1 horizontal dashed lines. Markers are medians over repetitions, whiskers the min–max
 * spread.
 */
final class PlotWriter {
  private PlotWriter() {}

  private static final int W = 900;
  private static final int PANEL_H = 340;
  private static final int LEFT = 80;
  private static final int RIGHT = 170;
  private static final int TOP = 40;
  private static final int BOTTOM = 50;

  /** One series: points (x = adapter count) with median and spread, or a flat reference line. */
  private record Series(String name, Color color, boolean flat, List<double[]> points) {}

  static void write(Path file, List<RunResult> runs, List<BenchMode> modes) throws IOException {
    System.setProperty("java.awt.headless", "true");
    BufferedImage img = new BufferedImage(W, 2 * PANEL_H, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = img.createGraphics();
    g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
    g.setRenderingHint(
        RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
    g.setColor(Color.WHITE);
    g.fillRect(0, 0, W, 2 * PANEL_H);
    int maxN = modes.stream().mapToInt(BenchMode::n).max().orElse(1);
    panel(
        g,
        0,
        "Throughput: generated tokens/s",
        series(runs, modes, RunResult::generatedTokPerS),
        maxN);
    panel(
        g,
        PANEL_H,
        "Latency: time per output token p50 (ms)",
        series(runs, modes, RunResult::tpotP50Ms),
        maxN);
    g.dispose();
    ImageIO.write(img, "png", file.toFile());
  }

  private static List<Series> series(
      List<RunResult> runs, List<BenchMode> modes, ToDoubleFunction<RunResult> f) {
    var byMode = BenchReport.byMode(runs);
    List<Series> out = new ArrayList<>();
    List<double[]> hetero = new ArrayList<>();
    List<double[]> serial = new ArrayList<>();
    for (BenchMode m : modes) {
      List<RunResult> rs = byMode.getOrDefault(m.label(), List.of());
      if (rs.isEmpty()) {
        continue;
      }
      double[] v = rs.stream().mapToDouble(f).toArray();
      double[] p = {Math.max(1, m.n()), Stats.median(v), Stats.min(v), Stats.max(v)};
      switch (m.kind()) {
        case BASE -> out.add(new Series("base (no LoRA)", Color.BLACK, true, List.of(p)));
        case ADAPTER1 -> out.add(new Series("adapter1", new Color(0x2ca02c), true, List.of(p)));
        case HETERO -> hetero.add(p);
        case SERIAL -> serial.add(p);
      }
    }
    if (!hetero.isEmpty()) {
      out.add(new Series("hetero:N", new Color(0x1f77b4), false, hetero));
    }
    if (!serial.isEmpty()) {
      out.add(new Series("serial:N", new Color(0xd62728), false, serial));
    }
    return out;
  }

  private static void panel(Graphics2D g, int y0, String title, List<Series> series, int maxN) {
    int x0 = LEFT;
    int w = W - LEFT - RIGHT;
    int top = y0 + TOP;
    int h = PANEL_H - TOP - BOTTOM;
    double yMax = 0;
    for (Series s : series) {
      for (double[] p : s.points()) {
        yMax = Math.max(yMax, Double.isFinite(p[3]) ? p[3] : p[1]);
      }
    }
    yMax = yMax <= 0 || !Double.isFinite(yMax) ? 1 : niceCeil(yMax * 1.08);
    double xMaxLog = Math.log10(Math.max(10, maxN)) + 0.1;
    double xMinLog = -0.1;
    g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 14));
    g.setColor(Color.BLACK);
    g.drawString(title, x0, y0 + 24);
    g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
    // grid and axes
    for (int i = 0; i <= 5; i++) {
      double v = yMax * i / 5;
      int yy = top + h - (int) Math.round(h * v / yMax);
      g.setColor(new Color(0xe6e6e6));
      g.drawLine(x0, yy, x0 + w, yy);
      g.setColor(Color.DARK_GRAY);
      g.drawString(label(v), x0 - 8 - g.getFontMetrics().stringWidth(label(v)), yy + 4);
    }
    for (int e = 0; Math.pow(10, e) <= Math.max(10, maxN) * 1.01; e++) {
      for (int m : new int[] {1, 2, 5}) {
        double n = m * Math.pow(10, e);
        if (n > Math.max(10, maxN) * 1.01) {
          break;
        }
        int xx = xPix(n, x0, w, xMinLog, xMaxLog);
        g.setColor(m == 1 ? new Color(0xd0d0d0) : new Color(0xf0f0f0));
        g.drawLine(xx, top, xx, top + h);
        g.setColor(Color.DARK_GRAY);
        String s = label(n);
        g.drawString(s, xx - g.getFontMetrics().stringWidth(s) / 2, top + h + 16);
      }
    }
    g.setColor(Color.BLACK);
    g.drawRect(x0, top, w, h);
    g.drawString("adapters in the pool (log scale)", x0 + w / 2 - 80, top + h + 34);
    int legendY = top + 10;
    for (Series s : series) {
      draw(g, s, x0, w, top, h, yMax, xMinLog, xMaxLog);
      g.setColor(s.color());
      g.fillRect(x0 + w + 14, legendY - 8, 14, 8);
      g.setColor(Color.BLACK);
      g.drawString(s.name(), x0 + w + 34, legendY);
      legendY += 18;
    }
  }

  private static void draw(
      Graphics2D g,
      Series s,
      int x0,
      int w,
      int top,
      int h,
      double yMax,
      double xMinLog,
      double xMaxLog) {
    g.setColor(s.color());
    if (s.flat()) {
      double[] p = s.points().getFirst();
      int yy = top + h - (int) Math.round(h * p[1] / yMax);
      g.setStroke(
          new BasicStroke(
              2f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f, new float[] {8f, 6f}, 0f));
      g.drawLine(x0, yy, x0 + w, yy);
      g.setStroke(new BasicStroke(1f));
      return;
    }
    g.setStroke(new BasicStroke(2f));
    int px = -1;
    int py = -1;
    for (double[] p : s.points()) {
      int xx = xPix(p[0], x0, w, xMinLog, xMaxLog);
      int yy = top + h - (int) Math.round(h * p[1] / yMax);
      if (px >= 0) {
        g.drawLine(px, py, xx, yy);
      }
      g.fillOval(xx - 4, yy - 4, 9, 9);
      int lo = top + h - (int) Math.round(h * p[2] / yMax);
      int hi = top + h - (int) Math.round(h * p[3] / yMax);
      g.setStroke(new BasicStroke(1f));
      g.drawLine(xx, lo, xx, hi);
      g.drawLine(xx - 4, lo, xx + 4, lo);
      g.drawLine(xx - 4, hi, xx + 4, hi);
      g.setStroke(new BasicStroke(2f));
      px = xx;
      py = yy;
    }
    g.setStroke(new BasicStroke(1f));
  }

  private static int xPix(double n, int x0, int w, double minLog, double maxLog) {
    return x0 + (int) Math.round(w * (Math.log10(n) - minLog) / (maxLog - minLog));
  }

  /** The next 1, 2 or 5 × 10^k at or above v. */
  private static double niceCeil(double v) {
    double p = Math.pow(10, Math.floor(Math.log10(v)));
    for (double m : new double[] {1, 2, 5, 10}) {
      if (m * p >= v) {
        return m * p;
      }
    }
    return 10 * p;
  }

  private static String label(double v) {
    if (v == Math.rint(v) && Math.abs(v) < 1e7) {
      return String.format(Locale.ROOT, "%d", (long) v);
    }
    return String.format(Locale.ROOT, Math.abs(v) >= 10 ? "%.0f" : "%.2f", v);
  }
}
