package dev.lorastream.batcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import org.apache.kafka.streams.KafkaStreams.State;
import org.junit.jupiter.api.Test;

/** The batcher's health rule over a fake clock: state, pending input and progress. */
class StreamHealthTest {

  static final long T0 = 1_800_000_000_000L;

  @Test
  void downWhenKafkaStreamsIsNeitherRunningNorRebalancing() {
    StreamHealth health = new StreamHealth(30_000, T0);
    assertNull(health.downReason(State.RUNNING, T0));
    assertNull(health.downReason(State.REBALANCING, T0));
    assertEquals("Kafka Streams is ERROR", health.downReason(State.ERROR, T0));
    assertEquals("Kafka Streams is CREATED", health.downReason(State.CREATED, T0));
    assertEquals("Kafka Streams is PENDING_ERROR", health.downReason(State.PENDING_ERROR, T0));
  }

  @Test
  void pendingInputWithoutProgressGoesDownAfterTheStallTime() {
    StreamHealth health = new StreamHealth(30_000, T0);
    health.observed(T0 + 500, true, "lora.requests-0: 4 records behind");
    health.progressed(T0 + 1_000); // the last record handled; the input stays pending
    health.observed(T0 + 2_000, true, "lora.requests-0: 3 records behind");
    assertNull(health.downReason(State.RUNNING, T0 + 30_999));
    assertEquals(
        "no progress for 30000 ms with input pending (lora.requests-0: 3 records behind);"
            + " batcher.health.stall.ms=30000",
        health.downReason(State.RUNNING, T0 + 31_000));
    health.observed(T0 + 33_000, true, "lora.requests-0: 3 records behind");
    assertEquals(
        "no progress for 32000 ms with input pending (lora.requests-0: 3 records behind);"
            + " batcher.health.stall.ms=30000",
        health.downReason(State.RUNNING, T0 + 33_000));
  }

  @Test
  void progressBringsItBackUp() {
    StreamHealth health = new StreamHealth(30_000, T0);
    health.observed(T0, true, "lora.requests-1: 1 records behind");
    assertEquals(
        "no progress for 40000 ms with input pending (lora.requests-1: 1 records behind);"
            + " batcher.health.stall.ms=30000",
        health.downReason(State.RUNNING, T0 + 40_000));
    health.progressed(T0 + 40_500);
    assertNull(health.downReason(State.RUNNING, T0 + 41_000));
    assertNull(health.downReason(State.RUNNING, T0 + 70_499));
    assertEquals(
        "no progress for 30000 ms with input pending (lora.requests-1: 1 records behind);"
            + " batcher.health.stall.ms=30000",
        health.downReason(State.RUNNING, T0 + 70_500));
  }

  @Test
  void idleWithoutPendingInputStaysUp() {
    StreamHealth health = new StreamHealth(30_000, T0);
    health.observed(T0 + 5_000, false, "");
    assertNull(health.downReason(State.RUNNING, T0 + 3_600_000));
  }

  @Test
  void newInputAfterALongIdleGetsTheWholeStallTime() {
    StreamHealth health = new StreamHealth(30_000, T0);
    health.observed(T0 + 5_000, false, "");
    health.observed(T0 + 3_600_000, true, "lora.requests-0: 1 records behind");
    assertNull(health.downReason(State.RUNNING, T0 + 3_629_999));
    assertEquals(
        "no progress for 30000 ms with input pending (lora.requests-0: 1 records behind);"
            + " batcher.health.stall.ms=30000",
        health.downReason(State.RUNNING, T0 + 3_630_000));
    health.observed(T0 + 3_631_000, false, "");
    assertNull(health.downReason(State.RUNNING, T0 + 3_631_000), "caught up");
  }
}
