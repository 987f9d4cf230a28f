package dev.lorastream.ingest.bulk;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class ProgressTest {

  @Test
  void formatsBarCountsRateEtaAndFailures() {
    assertEquals(
        "[############------------] 50/100   50%  12.5/s  ETA 0:04  2 failed",
        Progress.format(50, 100, 2, 4.0));
    assertEquals(
        "[------------------------] 0/10    0%  0.0/s  ETA --:--", Progress.format(0, 10, 0, 0));
    assertEquals(
        "[########################] 10/10  100%  2.0/s  in 0:05", Progress.format(10, 10, 0, 5));
    assertEquals(
        "[------------------------] 1/7200    0%  1.0/s  ETA 1:59:59",
        Progress.format(1, 7200, 0, 1.0));
    assertEquals("1:01:01", Progress.clock(3661));
    assertEquals("0:59", Progress.clock(59.4));
  }

  @Test
  void withoutATerminalItPrintsALineAtEachTenthAndAtTheEnd() {
    StringWriter s = new StringWriter();
    AtomicLong now = new AtomicLong();
    Progress p = new Progress(20, new PrintWriter(s), false, now::get);
    for (int i = 0; i < 20; i++) {
      now.addAndGet(1_000_000L); // 1 ms each: never the 10 s timer, only the 10 % steps
      p.advance(i != 3);
    }
    p.finish();
    String[] lines = s.toString().split("\n");
    assertEquals(10, lines.length, s.toString()); // 2/20 ... 18/20 and the final 20/20
    assertTrue(lines[0].contains(" 2/20"), lines[0]);
    assertTrue(lines[9].contains("20/20") && lines[9].contains("1 failed"), lines[9]);
    assertFalse(s.toString().contains("\r"));
  }

  @Test
  void onATerminalItRedrawsOneLineAtMostEvery100ms() {
    StringWriter s = new StringWriter();
    AtomicLong now = new AtomicLong();
    Progress p = new Progress(1000, new PrintWriter(s), true, now::get);
    for (int i = 0; i < 1000; i++) {
      now.addAndGet(1_000_000L); // 1 ms each, 1 s in all: about 10 redraws
      p.advance(true);
    }
    p.finish();
    String out = s.toString();
    long redraws = out.chars().filter(c -> c == '\r').count();
    assertTrue(redraws >= 9 && redraws <= 11, redraws + " redraws");
    assertTrue(out.endsWith("in 0:01\u001b[K\n"), out);
    assertEquals(1, out.split("\n").length);
  }
}
