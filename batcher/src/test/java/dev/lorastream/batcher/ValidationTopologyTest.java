package dev.lorastream.batcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.schemas.ErrorCode;
import dev.lorastream.schemas.FinishReason;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.SamplingParams;
import dev.lorastream.schemas.Topics;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.test.TestRecord;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Every admission rule of {@link RequestValidator}, through the whole topology. */
class ValidationTopologyTest {

  static final BatcherConfig CONFIG =
      BatcherConfig.defaults()
          .with(
              Map.of(
                  BatcherConfig.MAX_PROMPT_TOKENS,
                  "16",
                  BatcherConfig.MAX_NEW_TOKENS,
                  "16",
                  BatcherConfig.MAX_BATCH_TOKENS,
                  "64",
                  BatcherConfig.MAX_BATCH_REQUESTS,
                  "2"));

  Harness h;
  TestOutputTopic<String, InferenceResult> replies;

  @BeforeEach
  void start() {
    h = new Harness(CONFIG);
    replies = h.replies(Topics.REPLIES.name());
    h.adapter("acme-sql", "acme");
    h.adapter("globex-poet", "globex");
    h.adapter("public-chat", null);
  }

  @AfterEach
  void stop() {
    h.close();
  }

  private InferenceResult onlyReply(
      TestOutputTopic<String, InferenceResult> topic, String requestId) {
    List<TestRecord<String, InferenceResult>> out = topic.readRecordsToList();
    assertEquals(1, out.size(), "one error reply");
    assertEquals(requestId, out.getFirst().key());
    assertEquals(h.lastTimestamp(), out.getFirst().timestamp(), "the request's timestamp is kept");
    InferenceResult r = out.getFirst().value();
    assertEquals(requestId, r.getRequestId());
    assertEquals(FinishReason.ERROR, r.getFinishReason());
    assertNull(r.getBatchId());
    assertTrue(h.batches.isEmpty(), "a rejected request is not batched");
    return r;
  }

  @Test
  void unknownAdapterGetsUnknownAdapter() {
    h.send(Harness.request("r1", "no-such"));
    InferenceResult r = onlyReply(replies, "r1");
    assertEquals(ErrorCode.UNKNOWN_ADAPTER, r.getErrorCode());
    assertTrue(
        r.getErrorMessage().contains("'no-such' is not registered in lora.adapters"),
        r.getErrorMessage());
    assertEquals(
        1, h.counter(BatcherMetrics.REQUESTS, "outcome", "rejected", "code", "UNKNOWN_ADAPTER"));
  }

  @Test
  void anotherTenantsAdapterIsForbidden() {
    h.send(Harness.request("r1", "globex-poet"));
    InferenceResult r = onlyReply(replies, "r1");
    assertEquals(ErrorCode.ADAPTER_FORBIDDEN, r.getErrorCode());
    assertTrue(
        r.getErrorMessage().contains("tenant 'acme' may use its own adapters or public ones"));
    assertEquals("globex-poet", r.getAdapterId());
  }

  @Test
  void ownPublicAndBaseModelRequestsAreAccepted() {
    h.send(Harness.request("own", "acme-sql"));
    h.send(Harness.request("public", "public-chat")); // batch of 2 = max requests: flushed at once
    h.send(Harness.request("base", null));
    assertTrue(replies.isEmpty());
    var batch = h.batches.readValue();
    assertEquals(List.of("acme-sql", "public-chat"), batch.getAdapterIds());
    assertEquals(1, h.bufferContents().size(), "the base-model request waits for the next batch");
    assertEquals(3, h.counter(BatcherMetrics.REQUESTS, "outcome", "accepted", "code", "none"));
  }

  @Test
  void adapterDeletedByTombstoneBecomesUnknown() {
    h.send(Harness.request("before", "acme-sql"));
    assertTrue(replies.isEmpty());
    h.deleteAdapter("acme-sql");
    h.send(Harness.request("after", "acme-sql"));
    assertEquals(ErrorCode.UNKNOWN_ADAPTER, onlyReply(replies, "after").getErrorCode());
  }

  @Test
  void promptOverTheLimitIsTooLong() {
    h.send(Harness.request("long", null, 17, 4));
    InferenceResult r = onlyReply(replies, "long");
    assertEquals(ErrorCode.PROMPT_TOO_LONG, r.getErrorCode());
    assertEquals(
        "prompt has 17 tokens; the limit is 16 (batcher.max.prompt.tokens)", r.getErrorMessage());
    assertEquals(17, r.getUsage().getPromptTokens());
  }

  @Test
  void promptAtTheLimitIsAccepted() {
    h.send(Harness.request("edge", null, 16, 16));
    assertTrue(replies.isEmpty());
    assertEquals(1, h.bufferContents().size());
  }

  @Test
  void promptPlusMaxTokensBeyondTheModelContextIsTooLong() {
    h.close();
    h = new Harness(CONFIG.with(Map.of(BatcherConfig.MAX_CONTEXT_TOKENS, "24")));
    replies = h.replies(Topics.REPLIES.name());
    h.send(Harness.request("over", null, 16, 9));
    InferenceResult r = onlyReply(replies, "over");
    assertEquals(ErrorCode.PROMPT_TOO_LONG, r.getErrorCode());
    assertEquals(
        "prompt has 16 tokens and sampling.maxTokens is 9: 25 tokens exceed the model context of"
            + " 24 (batcher.max.context.tokens); shorten the prompt or lower maxTokens to at most 8",
        r.getErrorMessage());
    h.send(Harness.request("fits", null, 16, 8));
    assertTrue(replies.isEmpty());
    assertEquals(1, h.bufferContents().size());
  }

  @Test
  void anUnknownModelContextLeavesTheCheckToTheEngine() {
    assertEquals(0, CONFIG.maxContextTokens());
    h.send(Harness.request("big", null, 16, 16));
    assertTrue(replies.isEmpty());
    assertEquals(1, h.bufferContents().size());
  }

  static Stream<Arguments> invalidParams() {
    return Stream.of(
        Arguments.of(
            "temperature<0",
            (Consumer<SamplingParams.Builder>) s -> s.setTemperature(-0.1f),
            "sampling.temperature=-0.1"),
        Arguments.of(
            "temperature NaN",
            (Consumer<SamplingParams.Builder>) s -> s.setTemperature(Float.NaN),
            "sampling.temperature=NaN"),
        Arguments.of(
            "temperature inf",
            (Consumer<SamplingParams.Builder>) s -> s.setTemperature(Float.POSITIVE_INFINITY),
            "sampling.temperature=Infinity"),
        Arguments.of(
            "topP=0",
            (Consumer<SamplingParams.Builder>) s -> s.setTopP(0f),
            "sampling.topP=0.0 is invalid: must be in (0, 1]"),
        Arguments.of(
            "topP>1", (Consumer<SamplingParams.Builder>) s -> s.setTopP(1.5f), "sampling.topP=1.5"),
        Arguments.of(
            "topP NaN",
            (Consumer<SamplingParams.Builder>) s -> s.setTopP(Float.NaN),
            "sampling.topP=NaN"),
        Arguments.of(
            "topK<0", (Consumer<SamplingParams.Builder>) s -> s.setTopK(-1), "sampling.topK=-1"),
        Arguments.of(
            "maxTokens=0",
            (Consumer<SamplingParams.Builder>) s -> s.setMaxTokens(0),
            "sampling.maxTokens=0 is invalid: must be in [1, 16]"),
        Arguments.of(
            "maxTokens>limit",
            (Consumer<SamplingParams.Builder>) s -> s.setMaxTokens(17),
            "sampling.maxTokens=17"));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("invalidParams")
  void invalidSamplingIsInvalidParams(
      String name, Consumer<SamplingParams.Builder> breakIt, String expected) {
    InferenceRequest ok = Harness.request("bad", null);
    SamplingParams.Builder s = SamplingParams.newBuilder(ok.getSampling());
    breakIt.accept(s);
    h.send(InferenceRequest.newBuilder(ok).setSampling(s.build()).build());
    InferenceResult r = onlyReply(replies, "bad");
    assertEquals(ErrorCode.INVALID_PARAMS, r.getErrorCode());
    assertTrue(r.getErrorMessage().startsWith(expected), r.getErrorMessage());
  }

  @Test
  void missingPromptTokensAndBlankTenantAreInvalidParams() {
    h.send(
        InferenceRequest.newBuilder(Harness.request("empty", null))
            .setPromptTokenIds(List.of())
            .setPrompt("text only")
            .build());
    assertTrue(onlyReply(replies, "empty").getErrorMessage().startsWith("promptTokenIds is empty"));
    h.send(InferenceRequest.newBuilder(Harness.request("anon", null)).setTenantId(" ").build());
    InferenceResult r = onlyReply(replies, "anon");
    assertEquals(ErrorCode.INVALID_PARAMS, r.getErrorCode());
    assertTrue(r.getErrorMessage().contains("tenantId must not be blank"));
  }

  @Test
  void forbiddenReplyTopicErrorGoesToDefaultRepliesAndSaysSo() {
    var globexReplies = h.replies("lora.replies.globex");
    h.send(
        InferenceRequest.newBuilder(Harness.request("spy", "acme-sql"))
            .setReplyTopic("lora.replies.globex")
            .build());
    InferenceResult r = onlyReply(replies, "spy");
    assertEquals(ErrorCode.INVALID_PARAMS, r.getErrorCode());
    assertEquals(
        "replyTopic 'lora.replies.globex' is not allowed for tenant 'acme' (allowed: [lora.replies,"
            + " lora.replies.acme]); this error was written to lora.replies instead",
        r.getErrorMessage());
    assertTrue(globexReplies.isEmpty());
  }

  @Test
  void errorsGoToTheTenantsOwnReplyTopic() {
    var acmeReplies = h.replies("lora.replies.acme");
    h.send(
        InferenceRequest.newBuilder(Harness.request("mine", "nope"))
            .setReplyTopic("lora.replies.acme")
            .build());
    assertEquals(ErrorCode.UNKNOWN_ADAPTER, onlyReply(acmeReplies, "mine").getErrorCode());
    assertTrue(replies.isEmpty());
  }

  @Test
  void aPriorityOutsideMinus10To10IsInvalidParamsAndItsEndsAreAccepted() {
    h.send(InferenceRequest.newBuilder(Harness.request("low", null)).setPriority(-11).build());
    InferenceResult r = onlyReply(replies, "low");
    assertEquals(ErrorCode.INVALID_PARAMS, r.getErrorCode());
    assertEquals(
        "priority=-11 is out of range: must be in [-10, 10] (higher runs first; 0 = normal)",
        r.getErrorMessage());
    h.send(InferenceRequest.newBuilder(Harness.request("high", null)).setPriority(11).build());
    assertEquals(ErrorCode.INVALID_PARAMS, onlyReply(replies, "high").getErrorCode());
    h.send(InferenceRequest.newBuilder(Harness.request("min", null)).setPriority(-10).build());
    h.send(InferenceRequest.newBuilder(Harness.request("max", null)).setPriority(10).build());
    assertTrue(replies.isEmpty());
    var batch = h.batches.readValue(); // a batch of 2 = max requests: flushed at once
    assertEquals(
        List.of("min", "max"),
        batch.getRequests().stream().map(InferenceRequest::getRequestId).toList());
    assertEquals(
        List.of(-10, 10), batch.getRequests().stream().map(InferenceRequest::getPriority).toList());
  }

  @Test
  void passedDeadlineIsDeadlineExceeded() {
    long now = Harness.T0.toEpochMilli();
    h.send(
        InferenceRequest.newBuilder(Harness.request("late", null))
            .setDeadlineEpochMs(now - 5)
            .build());
    InferenceResult r = onlyReply(replies, "late");
    assertEquals(ErrorCode.DEADLINE_EXCEEDED, r.getErrorCode());
    assertTrue(r.getErrorMessage().contains("passed 5 ms before"), r.getErrorMessage());
    h.send(
        InferenceRequest.newBuilder(Harness.request("on-time", null))
            .setDeadlineEpochMs(now + 1000)
            .build());
    assertTrue(replies.isEmpty());
    assertEquals(1, h.bufferContents().size());
  }
}
