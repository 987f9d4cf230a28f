package dev.lorastream.consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import dev.lorastream.engine.sched.EngineError;
import dev.lorastream.engine.sched.FinishReason;
import dev.lorastream.engine.sched.GenerationResult;
import dev.lorastream.schemas.ErrorCode;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.Timings;
import java.util.EnumMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The engine's result on the wire: error codes mapped one to one, timings from the request's
 * creation.
 */
class ResultsTest {
  private static final InferenceRequest REQ =
      InferenceRequest.newBuilder()
          .setRequestId("r1")
          .setTenantId("t")
          .setCreatedEpochMs(1_000)
          .build();

  @Test
  void everyEngineErrorMapsToItsReplyCode() {
    Map<EngineError, ErrorCode> expected = new EnumMap<>(EngineError.class);
    expected.put(EngineError.UNKNOWN_ADAPTER, ErrorCode.UNKNOWN_ADAPTER);
    expected.put(EngineError.ADAPTER_INVALID, ErrorCode.ADAPTER_INVALID);
    expected.put(EngineError.PROMPT_TOO_LONG, ErrorCode.PROMPT_TOO_LONG);
    expected.put(EngineError.INVALID_PARAMS, ErrorCode.INVALID_PARAMS);
    expected.put(EngineError.INTERNAL, ErrorCode.INTERNAL);
    expected.put(EngineError.DEADLINE_EXCEEDED, ErrorCode.DEADLINE_EXCEEDED);
    expected.put(EngineError.CANCELLED, ErrorCode.CANCELLED);
    assertEquals(
        EngineError.values().length,
        expected.size(),
        "a new EngineError needs its expected reply code");
    for (EngineError e : EngineError.values()) {
      assertEquals(expected.get(e), Results.code(e), e.name());
      GenerationResult failed =
          new GenerationResult("r1", new int[0], "", FinishReason.ERROR, 3, e, "why", 0, 0, 0, 0);
      InferenceResult reply = Results.of(REQ, failed, 1_250, "b1", "c1");
      assertEquals(expected.get(e), reply.getErrorCode());
      assertEquals("why", reply.getErrorMessage());
    }
  }

  @Test
  void timingsAreMeasuredFromTheRequestsCreationNotFromEngineSubmit() {
    // created at 1000, submitted to the engine at 1250; the engine took 30 ms to schedule it, 80 ms
    // to the first
    // token and 500 ms in all (counted from its submit)
    GenerationResult r =
        new GenerationResult(
            "r1",
            new int[] {7, 8},
            "ab",
            FinishReason.LENGTH,
            3,
            null,
            null,
            30_000_000L,
            80_000_000L,
            500_000_000L,
            0);
    InferenceResult reply = Results.of(REQ, r, 1_250, "b1", "c1");
    assertEquals(new Timings(280L, 330L, 750L), reply.getTimings());
    assertNull(reply.getErrorCode());
  }

  @Test
  void aResultWithoutTokensReportsNoFirstTokenTime() {
    GenerationResult r =
        new GenerationResult(
            "r1", new int[0], "", FinishReason.STOP, 3, null, null, 30_000_000L, 0, 40_000_000L, 0);
    assertEquals(new Timings(280L, 0L, 290L), Results.of(REQ, r, 1_250, "b1", "c1").getTimings());
  }

  @Test
  void createdEpochMsAtTheLongExtremesGivesTimingsThatDoNotOverflow() {
    GenerationResult r =
        new GenerationResult(
            "r1",
            new int[] {7},
            "a",
            FinishReason.LENGTH,
            3,
            null,
            null,
            30_000_000L,
            80_000_000L,
            500_000_000L,
            0);
    long submit = 1_700_000_000_000L;
    for (long created : new long[] {Long.MIN_VALUE, -1, 0}) {
      InferenceRequest req = InferenceRequest.newBuilder(REQ).setCreatedEpochMs(created).build();
      // no origin a client meant: measured from the consumer's submit
      assertEquals(
          new Timings(30L, 80L, 500L),
          Results.of(req, r, submit, "b1", "c1").getTimings(),
          "createdEpochMs " + created);
    }
    InferenceRequest ahead =
        InferenceRequest.newBuilder(REQ).setCreatedEpochMs(Long.MAX_VALUE).build();
    long skew = submit - Long.MAX_VALUE; // a clock far ahead: negative, as the schema says
    assertEquals(
        new Timings(skew + 30, skew + 80, skew + 500),
        Results.of(ahead, r, submit, "b1", "c1").getTimings());
  }

  @Test
  void aDeadlineMetMidGenerationIsAnErrorReplyWithTheTextSoFar() {
    GenerationResult r =
        new GenerationResult(
            "r1",
            new int[] {7, 8, 9},
            "abc",
            FinishReason.ERROR,
            3,
            EngineError.DEADLINE_EXCEEDED,
            "the deadline 2000 passed 0 ms ago, after 3 generated tokens",
            30_000_000L,
            80_000_000L,
            500_000_000L,
            0);
    InferenceResult reply = Results.of(REQ, r, 1_250, "b1", "c1");
    assertEquals(dev.lorastream.schemas.FinishReason.ERROR, reply.getFinishReason());
    assertEquals(ErrorCode.DEADLINE_EXCEEDED, reply.getErrorCode());
    assertEquals(
        "the deadline 2000 passed 0 ms ago, after 3 generated tokens", reply.getErrorMessage());
    assertEquals("abc", reply.getText());
    assertEquals(java.util.List.of(7, 8, 9), reply.getTokenIds());
    assertEquals(3, reply.getUsage().getCompletionTokens());
    assertEquals(new Timings(280L, 330L, 750L), reply.getTimings());
  }
}
