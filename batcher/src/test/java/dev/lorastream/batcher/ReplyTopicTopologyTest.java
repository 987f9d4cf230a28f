package dev.lorastream.batcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.schemas.ErrorCode;
import dev.lorastream.schemas.FinishReason;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.ReplyTopics;
import dev.lorastream.schemas.Topics;
import java.util.List;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.test.TestRecord;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A replyTopic the tenant may use ({@code lora.replies.acme}) but that cannot be written: the
 * request gets INVALID_PARAMS on {@code lora.replies}, nothing is written to the topic, and later
 * requests are served.
 */
class ReplyTopicTopologyTest {

  static final String ACME = "lora.replies.acme";

  Harness h;
  TestOutputTopic<String, InferenceResult> replies;
  TestOutputTopic<String, InferenceResult> acmeReplies;

  @BeforeEach
  void start() {
    h = new Harness(ValidationTopologyTest.CONFIG); // batches of 2 requests
    replies = h.replies(Topics.REPLIES.name());
    acmeReplies = h.replies(ACME);
    h.adapter("acme-sql", "acme");
  }

  @AfterEach
  void stop() {
    h.close();
  }

  private static InferenceRequest replyingTo(String topic, InferenceRequest r) {
    return InferenceRequest.newBuilder(r).setReplyTopic(topic).build();
  }

  /**
   * The one error reply on lora.replies; nothing on the tenant's topic, nothing batched or
   * buffered.
   */
  private InferenceResult onlyErrorOnLoraReplies(String requestId) {
    List<TestRecord<String, InferenceResult>> out = replies.readRecordsToList();
    assertEquals(1, out.size(), "one error reply on lora.replies");
    assertEquals(requestId, out.getFirst().key());
    InferenceResult r = out.getFirst().value();
    assertEquals(FinishReason.ERROR, r.getFinishReason());
    assertEquals(ErrorCode.INVALID_PARAMS, r.getErrorCode());
    assertTrue(acmeReplies.isEmpty(), "nothing is written to a topic that cannot take it");
    assertTrue(h.batches.isEmpty(), "not batched");
    assertTrue(h.bufferContents().isEmpty(), "not buffered");
    return r;
  }

  @Test
  void rejectedRequestWithMissingReplyTopicGetsInvalidParamsOnLoraReplies() {
    h.replyTopicStates.put(ACME, ReplyTopics.State.MISSING);
    h.send(replyingTo(ACME, Harness.request("r1", "no-such")));
    InferenceResult r = onlyErrorOnLoraReplies("r1");
    assertEquals(
        "replyTopic 'lora.replies.acme' does not exist on the Kafka cluster (tenant 'acme' may use it, but"
            + " nobody has created it, and the batcher does not create topics): create the topic, or send with"
            + " replyTopic 'lora.replies'; this error was written to lora.replies instead",
        r.getErrorMessage());
    assertEquals(
        1, h.counter(BatcherMetrics.REQUESTS, "outcome", "rejected", "code", "INVALID_PARAMS"));
  }

  @Test
  void validRequestWithMissingReplyTopicIsRejectedNotBatched() {
    // Batched, its result would later be written to the missing topic by the inference consumer.
    h.replyTopicStates.put(ACME, ReplyTopics.State.MISSING);
    h.send(replyingTo(ACME, Harness.request("r1", "acme-sql")));
    h.send(replyingTo(ACME, Harness.request("r2", null)));
    assertEquals(2, replies.readRecordsToList().size());
    assertTrue(h.batches.isEmpty());
    assertTrue(h.bufferContents().isEmpty());
    assertEquals(List.of(ACME, ACME), h.replyTopicLookups);
  }

  @Test
  void laterRequestsAreStillServedAndTheTopicWorksOnceCreated() {
    h.replyTopicStates.put(ACME, ReplyTopics.State.MISSING);
    h.send(replyingTo(ACME, Harness.request("lost", "no-such")));
    onlyErrorOnLoraReplies("lost");
    h.send(Harness.request("g1", "acme-sql"));
    h.send(Harness.request("g2", "acme-sql"));
    assertEquals(
        List.of("g1", "g2"),
        h.batches.readValue().getRequests().stream().map(InferenceRequest::getRequestId).toList());

    h.replyTopicStates.remove(ACME); // someone created it
    h.send(replyingTo(ACME, Harness.request("late", "no-such")));
    assertEquals(ErrorCode.UNKNOWN_ADAPTER, acmeReplies.readValue().getErrorCode());
    assertTrue(replies.isEmpty());
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(
      delimiter = '|',
      value = {
        "INVALID_NAME   | replyTopic 'lora.replies.acme' is not a legal Kafka topic name",
        "NOT_AUTHORIZED | the batcher is not authorized to write replyTopic 'lora.replies.acme': grant its principal"
      })
  void unwritableReplyTopicSaysWhy(ReplyTopics.State state, String messageStart) {
    h.replyTopicStates.put(ACME, state);
    h.send(replyingTo(ACME, Harness.request("r1", "acme-sql")));
    String message = onlyErrorOnLoraReplies("r1").getErrorMessage();
    assertTrue(message.startsWith(messageStart), message);
    assertTrue(message.endsWith("this error was written to lora.replies instead"), message);
  }

  @Test
  void blankRequestIdWithMissingReplyTopicIsAnsweredOnLoraReplies() {
    h.replyTopicStates.put(ACME, ReplyTopics.State.MISSING);
    h.send(
        replyingTo(
            ACME,
            InferenceRequest.newBuilder(Harness.request("x", null)).setRequestId("").build()));
    assertTrue(
        onlyErrorOnLoraReplies("")
            .getErrorMessage()
            .startsWith("requestId and tenantId must not be blank"));
  }

  @Test
  void onlyAllowedTopicsOtherThanLoraRepliesAreLookedUp() {
    h.send(Harness.request("default", "no-such")); // lora.replies: checked when the batcher started
    assertEquals(ErrorCode.UNKNOWN_ADAPTER, replies.readValue().getErrorCode());
    h.send(
        replyingTo(
            "lora.replies.globex", Harness.request("spy", null))); // not allowed: refused first
    assertTrue(
        replies
            .readValue()
            .getErrorMessage()
            .startsWith("replyTopic 'lora.replies.globex' is not allowed"));
    assertEquals(List.of(), h.replyTopicLookups);
  }
}
