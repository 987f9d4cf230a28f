package dev.lorastream.consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * {@link RetryBackoff} on a fake clock: a failure that repeats is retried ever less often, never
 * hot.
 */
class RetryBackoffTest {
  long now = 5_000;
  final RetryBackoff backoff = new RetryBackoff(100, 1_000, () -> now);

  @Test
  void readyUntilSomethingFails() {
    assertTrue(backoff.ready());
    backoff.succeeded();
    assertTrue(backoff.ready());
  }

  @Test
  void eachFailureWaitsTwiceAsLongUpToTheMax() {
    List<Long> waits = new ArrayList<>();
    for (int i = 0; i < 6; i++) {
      long wait = backoff.failed();
      waits.add(wait);
      now += wait - 1;
      assertFalse(backoff.ready(), "1 ms before the end of wait " + i);
      now += 1;
      assertTrue(backoff.ready(), "at the end of wait " + i);
    }
    assertEquals(List.of(100L, 200L, 400L, 800L, 1_000L, 1_000L), waits);
    assertEquals(6, backoff.failures());
  }

  @Test
  void aSuccessResetsTheWait() {
    backoff.failed();
    backoff.failed();
    now += 10_000;
    backoff.succeeded();
    assertEquals(0, backoff.failures());
    assertEquals(100, backoff.failed());
  }

  @Test
  void manyFailuresDoNotOverflow() {
    for (int i = 0; i < 100; i++) {
      assertEquals(i < 4 ? 100L << i : 1_000L, backoff.failed());
    }
  }

  @Test
  void badBoundsAreRefused() {
    assertThrows(IllegalArgumentException.class, () -> new RetryBackoff(0, 10, () -> 0));
    assertThrows(IllegalArgumentException.class, () -> new RetryBackoff(10, 5, () -> 0));
  }
}
