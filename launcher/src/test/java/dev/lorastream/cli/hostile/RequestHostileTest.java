package dev.lorastream.cli.hostile;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.schemas.DlqHeaders;
import dev.lorastream.schemas.ErrorCode;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.Timings;
import dev.lorastream.schemas.Topics;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.UUID;
import java.util.function.Consumer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Hostile records on {@code lora.requests}, sent as raw bytes to the running stack ({@link
 * HostileStack}): malformed framing, schema mismatches, count and length bombs in every collection
 * and string, every numeric field at its edges, ids and reply topics with odd bytes. Each case
 * expects either the exact {@link ErrorCode} of the reply or the exact reason on {@code
 * lora.requests.dlq}, and ends with a good request that must still be answered.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@ExtendWith(HostileStackExtension.class)
class RequestHostileTest {
  private static final String DLQ = Topics.REQUESTS_DLQ.name();

  private HostileStack stack;

  @BeforeAll
  void start(HostileStack stack) {
    this.stack = stack;
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource({
    "dev.lorastream.cli.hostile.RequestCases#framingSchemasAndBombs",
    "dev.lorastream.cli.hostile.RequestFieldCases#fieldValues"
  })
  @Timeout(120)
  void aHostileRequestGetsItsExactAnswerAndServingGoesOn(
      String name, Consumer<RawRequest> edit, RequestCases.Wire wire, RequestCases.Expect expect)
      throws Exception {
    String id = "case-" + UUID.randomUUID();
    RawRequest r = RawRequest.good(id, "acme", "legal", stack.tokenizer);
    edit.accept(r);
    byte[][] kv = wire.build(stack, r);
    stack.send(Topics.REQUESTS.name(), kv[0], kv[1], id);
    switch (expect) {
      case RequestCases.Answer a -> {
        InferenceResult reply = stack.awaitReply(r.tenantId, r.requestId);
        assertEquals(a.code(), reply.getErrorCode(), String.valueOf(reply.getErrorMessage()));
        String topic =
            stack
                .awaitReply(
                    s ->
                        s.reply().getRequestId().equals(r.requestId)
                            && s.reply().getTenantId().equals(r.tenantId))
                .topic();
        assertEquals(a.topic(), topic, "the reply's topic");
        assertFalse(stack.deadLettered(id), "an answered request is not dead-lettered");
      }
      case RequestCases.DeadLetter d -> {
        HostileStack.Seen dead = stack.awaitDeadLetter(DLQ, id);
        assertEquals(d.reason(), dead.header(DlqHeaders.REASON), dead.header(DlqHeaders.EXCEPTION));
        assertEquals(Topics.REQUESTS.name(), dead.header(DlqHeaders.TOPIC));
        assertEquals(Arrays.toString(kv[1]), Arrays.toString(dead.record().value()));
      }
    }
    stack.assertServing("acme", "legal");
  }

  @Test
  @Timeout(120)
  void aCreatedEpochMsOfZeroOrBelowGivesTimingsFromSubmitNotAnOverflow() throws Exception {
    for (long created : new long[] {Long.MIN_VALUE, -1, 0}) {
      String id = "created-" + UUID.randomUUID();
      RawRequest r = RawRequest.good(id, "acme", "legal", stack.tokenizer);
      r.createdEpochMs = created;
      stack.send(Topics.REQUESTS.name(), utf8(id), r.encode(stack), id);
      Timings t = stack.awaitReply("acme", id).getTimings();
      assertTrue(
          0 <= t.getQueueMs() && t.getQueueMs() <= t.getTotalMs() && t.getTotalMs() < 120_000,
          "createdEpochMs " + created + ": " + t);
    }
    stack.assertServing("acme", "legal");
  }

  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }
}
