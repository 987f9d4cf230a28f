package dev.lorastream.engine.ops.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;

class CpuParallelTest {
  @Test
  void everyIndexIsVisitedOnce() {
    try (CpuParallel p = new CpuParallel(3)) {
      AtomicIntegerArray seen = new AtomicIntegerArray(1000);
      p.forRange(
          1000,
          7,
          (from, to) -> {
            for (int i = from; i < to; i++) {
              seen.incrementAndGet(i);
            }
          });
      int[] ones = new int[1000];
      java.util.Arrays.fill(ones, 1);
      int[] got = new int[1000];
      for (int i = 0; i < got.length; i++) {
        got[i] = seen.get(i);
      }
      assertArrayEquals(ones, got);
    }
  }

  @Test
  void aLoopDoesNotWaitForAWorkerThatIsBusyElsewhere() throws Exception {
    try (CpuParallel p = new CpuParallel(2)) { // one worker
      CountDownLatch workerHeld = new CountDownLatch(1);
      CountDownLatch release = new CountDownLatch(1);
      Thread other =
          new Thread(
              () ->
                  p.forRange(
                      2,
                      1,
                      (from, to) -> {
                        try {
                          if (Thread.currentThread().getName().startsWith("lorastream-cpu-")) {
                            workerHeld.countDown();
                            release.await(); // the worker stays busy with this loop
                          } else {
                            workerHeld.await(); // leave the second chunk to the worker
                          }
                        } catch (InterruptedException e) {
                          Thread.currentThread().interrupt();
                        }
                      }));
      other.start();
      try {
        assertTrue(
            workerHeld.await(10, TimeUnit.SECONDS), "the worker took a chunk of the other loop");
        int[] sum = {0};
        Thread mine = new Thread(() -> p.forRange(4, 1, (from, to) -> sum[0] += to - from));
        mine.start();
        mine.join(10_000);
        assertFalse(mine.isAlive(), "done on the calling thread while the worker is held");
        assertEquals(4, sum[0]);
      } finally {
        release.countDown();
        other.join(10_000);
      }
    }
  }
}
