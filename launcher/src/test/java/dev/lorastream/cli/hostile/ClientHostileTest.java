package dev.lorastream.cli.hostile;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.schemas.ErrorCode;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.SamplingParams;
import dev.lorastream.schemas.Topics;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Hostile use of the client API ({@code LoraClient}) and duplicate request ids, against the running
 * stack ({@link HostileStack}): a request the client cannot send fails its future with an {@link
 * IllegalArgumentException} naming what is wrong (nothing reaches Kafka), one it sends gets the
 * exact error code, and a (tenant, request id) read twice is answered once and then {@code
 * DUPLICATE_REQUEST}. Every case ends with a good request that must still be answered.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@ExtendWith(HostileStackExtension.class)
class ClientHostileTest {
  private HostileStack stack;

  @BeforeAll
  void start(HostileStack stack) {
    this.stack = stack;
  }

  private static InferenceRequest.Builder good() {
    return InferenceRequest.newBuilder()
        .setTenantId("acme")
        .setAdapterId("legal")
        .setPrompt("The ")
        .setSampling(SamplingParams.newBuilder().setMaxTokens(2).build());
  }

  static Stream<Arguments> refusedByTheClient() {
    return Stream.of(
        Arguments.of(
            "null sampling",
            (UnaryOperator<InferenceRequest.Builder>) b -> b.setSampling(null),
            "sampling is null, which the schema does not allow"),
        Arguments.of(
            "sampling from Avro's no-arg constructor",
            (UnaryOperator<InferenceRequest.Builder>) b -> b.setSampling(new SamplingParams()),
            "sampling.stopTokenIds is null"),
        Arguments.of(
            "a null stop string",
            (UnaryOperator<InferenceRequest.Builder>)
                b ->
                    b.setSampling(
                        SamplingParams.newBuilder()
                            .setMaxTokens(2)
                            .setStopStrings(Arrays.asList("x", null))
                            .build()),
            "sampling.stopStrings[1] is null"),
        Arguments.of(
            "a null prompt token id",
            (UnaryOperator<InferenceRequest.Builder>)
                b -> b.setPromptTokenIds(Arrays.asList(1, null)),
            "promptTokenIds[1] is null"),
        Arguments.of(
            "no tenantId",
            (UnaryOperator<InferenceRequest.Builder>) b -> b.clearTenantId(),
            "tenantId is required"),
        Arguments.of(
            "a blank tenantId",
            (UnaryOperator<InferenceRequest.Builder>) b -> b.setTenantId(" "),
            "tenantId is required"),
        Arguments.of(
            "neither prompt nor token ids",
            (UnaryOperator<InferenceRequest.Builder>) b -> b.setPrompt(null),
            "has neither prompt nor promptTokenIds"));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("refusedByTheClient")
  @Timeout(60)
  void aRequestTheClientCannotSendFailsNamingWhy(
      String name, UnaryOperator<InferenceRequest.Builder> edit, String why) throws Exception {
    CompletableFuture<InferenceResult> f = stack.client.submit(edit.apply(good()));
    ExecutionException e =
        assertThrows(ExecutionException.class, () -> f.get(10, TimeUnit.SECONDS));
    assertInstanceOf(IllegalArgumentException.class, e.getCause(), String.valueOf(e.getCause()));
    assertTrue(e.getCause().getMessage().contains(why), e.getCause().getMessage());
    stack.assertServing("acme", "legal");
  }

  @Test
  @Timeout(60)
  void aZeroOrNegativeTimeoutIsRefused() throws Exception {
    for (Duration t : List.of(Duration.ZERO, Duration.ofMillis(-1))) {
      var f = stack.client.submit(good(), t);
      ExecutionException e =
          assertThrows(ExecutionException.class, () -> f.get(10, TimeUnit.SECONDS));
      assertEquals("timeout must be > 0, got " + t, e.getCause().getMessage());
    }
    stack.assertServing("acme", "legal");
  }

  static Stream<Arguments> answeredWithACode() {
    return Stream.of(
        Arguments.of(
            "temperature NaN",
            (UnaryOperator<InferenceRequest.Builder>)
                b -> b.setSampling(SamplingParams.newBuilder().setTemperature(Float.NaN).build()),
            ErrorCode.INVALID_PARAMS),
        Arguments.of(
            "another tenant's adapter",
            (UnaryOperator<InferenceRequest.Builder>) b -> b.setTenantId("globex"),
            ErrorCode.ADAPTER_FORBIDDEN),
        Arguments.of(
            "an adapter nobody registered",
            (UnaryOperator<InferenceRequest.Builder>) b -> b.setAdapterId("no-such"),
            ErrorCode.UNKNOWN_ADAPTER),
        Arguments.of(
            "a prompt past the limit",
            (UnaryOperator<InferenceRequest.Builder>) b -> b.setPrompt("The ".repeat(200)),
            ErrorCode.PROMPT_TOO_LONG),
        Arguments.of(
            "a deadline already past",
            (UnaryOperator<InferenceRequest.Builder>) b -> b.setDeadlineEpochMs(1),
            ErrorCode.DEADLINE_EXCEEDED));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("answeredWithACode")
  @Timeout(90)
  void aRequestTheClientSendsGetsItsExactCode(
      String name, UnaryOperator<InferenceRequest.Builder> edit, ErrorCode code) throws Exception {
    InferenceResult r = stack.client.submit(edit.apply(good())).get(60, TimeUnit.SECONDS);
    assertEquals(code, r.getErrorCode(), String.valueOf(r.getErrorMessage()));
    stack.assertServing("acme", "legal");
  }

  @Test
  @Timeout(90)
  void theSameIdTwiceOnOneClientIsRefusedWhileTheFirstIsPending() throws Exception {
    String id = "twice-" + UUID.randomUUID();
    var first = stack.client.submit(good().setRequestId(id));
    var second = stack.client.submit(good().setRequestId(id));
    ExecutionException e =
        assertThrows(ExecutionException.class, () -> second.get(10, TimeUnit.SECONDS));
    assertInstanceOf(IllegalArgumentException.class, e.getCause());
    assertTrue(e.getCause().getMessage().contains("is already pending on this client"));
    assertNull(first.get(60, TimeUnit.SECONDS).getErrorCode());
    stack.assertServing("acme", "legal");
  }

  @Test
  @Timeout(90)
  void aRepeatedTenantAndRequestIdIsAnsweredOnceThenDuplicateRequest() throws Exception {
    String id = "dup-" + UUID.randomUUID();
    byte[] value = RawRequest.good(id, "acme", "legal", stack.tokenizer).encode(stack);
    byte[] key = id.getBytes(StandardCharsets.UTF_8);
    for (int i = 0; i < 3; i++) {
      stack.send(Topics.REQUESTS.name(), key, value, id + "-" + i);
    }
    stack.assertServing("acme", "legal");
    // the batcher answers a repeat at once, the consumer the first later: count, not order
    List<ErrorCode> codes =
        stack.replies("acme", id, 3).stream().map(InferenceResult::getErrorCode).toList();
    assertEquals(3, codes.size(), codes.toString());
    assertEquals(1, codes.stream().filter(c -> c == null).count(), "answered once: " + codes);
    assertEquals(
        2,
        codes.stream().filter(c -> c == ErrorCode.DUPLICATE_REQUEST).count(),
        "the repeats: " + codes);
  }

  @Test
  @Timeout(90)
  void copiesWithoutTheRequestIdAsKeyCannotDodgeTheDuplicateCheckOnAnotherPartition()
      throws Exception {
    String id = "unkeyed-" + UUID.randomUUID();
    byte[] value = RawRequest.good(id, "acme", "legal", stack.tokenizer).encode(stack);
    stack.send(Topics.REQUESTS.name(), id.getBytes(StandardCharsets.UTF_8), value, id + "-keyed");
    for (int i = 0; i < 4; i++) { // null keys spread over both partitions of lora.requests
      stack.send(Topics.REQUESTS.name(), null, value, id + "-null-" + i);
    }
    stack.assertServing("acme", "legal");
    List<ErrorCode> codes =
        stack.replies("acme", id, 5).stream().map(InferenceResult::getErrorCode).toList();
    assertEquals(5, codes.size(), codes.toString());
    assertEquals(1, codes.stream().filter(c -> c == null).count(), "answered once: " + codes);
    assertEquals(
        4, codes.stream().filter(c -> c == ErrorCode.INVALID_PARAMS).count(), codes.toString());
  }

  @Test
  @Timeout(90)
  void theSameRequestIdFromAnotherTenantIsAnotherRequest() throws Exception {
    String id = "shared-" + UUID.randomUUID();
    byte[] key = id.getBytes(StandardCharsets.UTF_8);
    stack.send(
        Topics.REQUESTS.name(),
        key,
        RawRequest.good(id, "acme", "python", stack.tokenizer).encode(stack),
        id + "-acme");
    stack.send(
        Topics.REQUESTS.name(),
        key,
        RawRequest.good(id, "globex", "python", stack.tokenizer).encode(stack),
        id + "-globex");
    assertNull(stack.awaitReply("acme", id).getErrorCode());
    assertNull(stack.awaitReply("globex", id).getErrorCode());
    stack.assertServing("globex", "python");
    assertEquals(1, stack.replies("acme", id).size());
    assertEquals(1, stack.replies("globex", id).size());
  }
}
