package dev.lorastream.batcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** In-flight records per thread, and progress as the highest offset handled per partition. */
class RecordTrackerTest {

  @Test
  void aRecordThatDoesNotFinishStaysInFlightOnItsThread() throws Exception {
    RecordTracker tracker = new RecordTracker(() -> 5);
    tracker.begin("lora.requests", 3, 17);
    assertEquals("lora.requests-3@17", tracker.inFlight());
    String[] elsewhere = new String[1];
    Thread other = new Thread(() -> elsewhere[0] = tracker.inFlight());
    other.start();
    other.join();
    assertNull(elsewhere[0], "another thread has nothing in flight");
    tracker.done("lora.requests", 3, 17);
    assertNull(tracker.inFlight());
  }

  @Test
  void reprocessingOffsetsAlreadyHandledIsNoProgress() {
    AtomicLong clock = new AtomicLong(1_000);
    RecordTracker tracker = new RecordTracker(clock::get);
    assertEquals(-1, tracker.lastProgressMs());
    for (long offset = 0; offset < 3; offset++) {
      tracker.begin("lora.requests", 0, offset);
      tracker.done("lora.requests", 0, offset);
    }
    assertEquals(1_000, tracker.lastProgressMs());
    clock.set(2_000); // a replaced thread re-reads offsets 1 and 2 of an aborted transaction
    for (long offset = 1; offset < 3; offset++) {
      tracker.begin("lora.requests", 0, offset);
      tracker.done("lora.requests", 0, offset);
    }
    assertEquals(1_000, tracker.lastProgressMs());
    tracker.begin("lora.requests", 1, 0); // another partition's first record is progress
    tracker.done("lora.requests", 1, 0);
    assertEquals(2_000, tracker.lastProgressMs());
  }
}
