package dev.lorastream.batcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.lorastream.schemas.serde.AvroDecodeException;
import java.util.ArrayList;
import java.util.List;
import org.apache.kafka.streams.errors.StreamsException;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse;
import org.junit.jupiter.api.Test;

/** The stream-thread failure policy as a pure function of the failures it is given. */
class ThreadFailurePolicyTest {

  static final StreamThreadExceptionResponse REPLACE = StreamThreadExceptionResponse.REPLACE_THREAD;
  static final StreamThreadExceptionResponse SHUTDOWN =
      StreamThreadExceptionResponse.SHUTDOWN_CLIENT;

  static final RuntimeException REGISTRY_DOWN =
      new StreamsException(
          new AvroDecodeException(
              AvroDecodeException.Reason.REGISTRY_UNAVAILABLE, "registry returned 503", null));

  @Test
  void outOfMemoryShutsTheClientDownAtTheFirstFailure() {
    ThreadFailurePolicy policy = new ThreadFailurePolicy(3, 60_000);
    var d =
        policy.decide(
            new StreamsException("process failed", new OutOfMemoryError("Java heap space")),
            "lora.requests-0@7",
            1_000);
    assertEquals(SHUTDOWN, d.response());
    assertEquals(
        "java.lang.OutOfMemoryError at lora.requests-0@7 is an Error, not retried: Java heap space"
            + " (the process exits for a restart)",
        d.reason());
  }

  @Test
  void stackOverflowOutsideRecordProcessingShutsTheClientDown() {
    var d = new ThreadFailurePolicy(3, 60_000).decide(new StackOverflowError(), null, 1_000);
    assertEquals(SHUTDOWN, d.response());
    assertEquals(
        "java.lang.StackOverflowError is an Error, not retried: null (the process exits for a"
            + " restart)",
        d.reason());
  }

  @Test
  void oneRecordFailingMoreThanTheMaximumShutsDownHoweverSlowly() {
    ThreadFailurePolicy policy = new ThreadFailurePolicy(3, 60_000);
    List<ThreadFailurePolicy.Decision> decisions = new ArrayList<>();
    for (int i = 0; i < 4; i++) { // ten minutes apart: the rate rule alone never fires
      decisions.add(policy.decide(REGISTRY_DOWN, "lora.requests-2@41", i * 600_000L));
    }
    assertEquals(
        List.of(REPLACE, REPLACE, REPLACE, SHUTDOWN),
        decisions.stream().map(ThreadFailurePolicy.Decision::response).toList());
    assertEquals(
        "replacing the stream thread (failure 1 of at most 3 within 60000 ms) at"
            + " lora.requests-2@41: "
            + REGISTRY_DOWN,
        decisions.getFirst().reason());
    assertEquals(
        "the stream thread failed 4 times in a row at lora.requests-2@41 (at most 3 replacements"
            + " for one record): "
            + REGISTRY_DOWN,
        decisions.getLast().reason());
  }

  @Test
  void aFailureAtAnotherRecordStartsTheCountAgain() {
    ThreadFailurePolicy policy = new ThreadFailurePolicy(2, 60_000);
    List<StreamThreadExceptionResponse> answers = new ArrayList<>();
    String[] records = {"lora.requests-0@5", "lora.requests-0@5", "lora.requests-0@6"};
    for (int i = 0; i < records.length; i++) {
      answers.add(policy.decide(REGISTRY_DOWN, records[i], i * 600_000L).response());
    }
    answers.add(policy.decide(REGISTRY_DOWN, "lora.requests-0@6", 1_800_000).response());
    answers.add(policy.decide(REGISTRY_DOWN, "lora.requests-0@6", 2_400_000).response());
    assertEquals(List.of(REPLACE, REPLACE, REPLACE, REPLACE, SHUTDOWN), answers);
  }

  @Test
  void moreFailuresThanTheMaximumWithinTheWindowShutDown() {
    ThreadFailurePolicy policy = new ThreadFailurePolicy(3, 60_000);
    List<StreamThreadExceptionResponse> answers = new ArrayList<>();
    long[] times = {0, 10_000, 20_000, 59_999};
    for (int i = 0; i < times.length; i++) {
      answers.add(policy.decide(REGISTRY_DOWN, "lora.requests-0@" + i, times[i]).response());
    }
    assertEquals(List.of(REPLACE, REPLACE, REPLACE, SHUTDOWN), answers);
  }

  @Test
  void failuresSpreadWiderThanTheWindowAreReplacedEveryTime() {
    ThreadFailurePolicy policy = new ThreadFailurePolicy(3, 60_000);
    for (int i = 0; i < 20; i++) {
      var d = policy.decide(REGISTRY_DOWN, null, i * 20_000L); // 3 within any 60 s
      assertEquals(REPLACE, d.response(), "failure " + i + ": " + d.reason());
    }
    var fourth = policy.decide(REGISTRY_DOWN, null, 19 * 20_000L + 1);
    assertEquals(SHUTDOWN, fourth.response());
    assertEquals(
        "the stream thread failed 4 times within 60000 ms (at most 3 replacements): "
            + REGISTRY_DOWN,
        fourth.reason());
  }

  @Test
  void zeroReplacementsShutsDownAtTheFirstFailure() {
    assertEquals(
        SHUTDOWN, new ThreadFailurePolicy(0, 60_000).decide(REGISTRY_DOWN, null, 0).response());
  }

  @Test
  void badLimitsAreRefused() {
    assertThrows(IllegalArgumentException.class, () -> new ThreadFailurePolicy(-1, 60_000));
    assertThrows(IllegalArgumentException.class, () -> new ThreadFailurePolicy(3, 0));
  }
}
