package dev.lorastream.consumer;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

/**
 * The consumer's SIGTERM hook ({@link ConsumerMain#stopAndAwaitClose}) returns as soon as the
 * consumer is closed, although the main thread then blocks in {@code System.exit} (which never
 * returns while a shutdown hook runs): the hook used to join the main thread and so always waited
 * its whole 10 s.
 */
class ConsumerShutdownTest {

  @Test
  void theHookReturnsOnceTheConsumerIsClosedAlthoughMainThenBlocksInExit() throws Exception {
    AtomicBoolean running = new AtomicBoolean(true);
    CountDownLatch closed = new CountDownLatch(1);
    CountDownLatch exiting = new CountDownLatch(1);
    // The main thread: polls until stopped, closes, then blocks as System.exit does in a hook.
    Thread main =
        Thread.ofPlatform()
            .daemon()
            .start(
                () -> {
                  while (running.get()) {
                    Thread.onSpinWait();
                  }
                  closed.countDown();
                  try {
                    exiting.await();
                  } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                  }
                });
    long t0 = System.nanoTime();
    boolean inTime =
        ConsumerMain.stopAndAwaitClose(
            () -> running.set(false), closed, ConsumerMain.CLOSE_TIMEOUT);
    long ms = (System.nanoTime() - t0) / 1_000_000;
    assertTrue(inTime);
    assertTrue(ms < 2_000, "the hook took " + ms + " ms");
    assertTrue(main.isAlive(), "main is still blocked in exit: joining it would wait the timeout");
    exiting.countDown();
  }

  @Test
  void theHookGivesUpAfterTheTimeoutWhenCloseHangs() {
    CountDownLatch never = new CountDownLatch(1);
    long t0 = System.nanoTime();
    assertFalse(ConsumerMain.stopAndAwaitClose(() -> {}, never, Duration.ofMillis(200)));
    long ms = (System.nanoTime() - t0) / 1_000_000;
    assertTrue(ms >= 150 && ms < 2_000, "waited " + ms + " ms");
  }
}
