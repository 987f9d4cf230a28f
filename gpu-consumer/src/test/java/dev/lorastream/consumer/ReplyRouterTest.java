package dev.lorastream.consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.schemas.ErrorCode;
import dev.lorastream.schemas.FinishReason;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.ReplyTopics;
import dev.lorastream.schemas.ReplyTopics.State;
import dev.lorastream.schemas.Timings;
import dev.lorastream.schemas.Usage;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.TimeoutException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Where the consumer writes each finished result: a reply topic that cannot be written gets the
 * result replaced by an error on lora.replies, instead of a write that would poison the whole
 * transaction (which the consumer used to abort and redo forever).
 */
class ReplyRouterTest {
  static final String ACME = "lora.replies.acme";

  final Map<String, State> cluster =
      new HashMap<>(Map.of("lora.replies", State.EXISTS, ACME, State.EXISTS));
  final List<String> asked = new ArrayList<>();
  final List<State> rerouted = new ArrayList<>();
  RuntimeException failure;
  final ReplyTopics topics =
      topic -> {
        asked.add(topic);
        if (failure != null) {
          throw failure;
        }
        return cluster.getOrDefault(topic, State.MISSING);
      };
  final ReplyRouter router = new ReplyRouter(topics, "c1", rerouted::add);

  @Test
  void aResultGoesToItsWritableReplyTopicUnchanged() {
    InferenceResult ok = ok("r1");
    ProducerRecord<String, InferenceResult> rec = router.record(request("r1", ACME), ok, "b1");
    assertEquals(ACME, rec.topic());
    assertEquals("r1", rec.key());
    assertSame(ok, rec.value());
    assertEquals(List.of(ACME), asked);
    assertEquals(List.of(), rerouted);
  }

  @Test
  void aMissingReplyTopicBecomesAnInvalidParamsErrorOnLoraReplies() {
    cluster.remove(ACME); // deleted after the batcher accepted the request
    ProducerRecord<String, InferenceResult> rec =
        router.record(request("r1", ACME), ok("r1"), "b1");
    assertEquals("lora.replies", rec.topic());
    assertEquals("r1", rec.key());
    InferenceResult e = rec.value();
    assertEquals(ErrorCode.INVALID_PARAMS, e.getErrorCode());
    assertEquals(FinishReason.ERROR, e.getFinishReason());
    assertEquals(
        "replyTopic 'lora.replies.acme' does not exist on the Kafka cluster (it may have been deleted after"
            + " the batcher accepted the request; the inference consumer does not create topics), so the result was not"
            + " delivered: create the topic and send the request again, or send with replyTopic 'lora.replies'; this"
            + " error was written to lora.replies instead",
        e.getErrorMessage());
    // the caller can correlate it ...
    assertEquals("r1", e.getRequestId());
    assertEquals("acme", e.getTenantId());
    assertEquals("sql", e.getAdapterId());
    assertEquals("b1", e.getBatchId());
    assertEquals("c1", e.getServedBy());
    // ... and another tenant reading lora.replies does not get acme's completion
    assertEquals("", e.getText());
    assertEquals(List.of(), e.getTokenIds());
    assertEquals(List.of(State.MISSING), rerouted);
  }

  @ParameterizedTest
  @CsvSource(
      delimiter = '|',
      value = {
        "INVALID_NAME   | replyTopic 'lora.replies.acme' is not a legal Kafka topic name",
        "NOT_AUTHORIZED | the inference consumer is not authorized to write replyTopic 'lora.replies.acme', so the"
            + " result was not delivered: grant its principal DESCRIBE and WRITE"
      })
  void everyUnwritableStateSaysWhyAndWhatToDo(State state, String start) {
    cluster.put(ACME, state);
    InferenceResult e = router.record(request("r1", ACME), ok("r1"), "b1").value();
    assertTrue(e.getErrorMessage().startsWith(start), e.getErrorMessage());
    assertTrue(
        e.getErrorMessage()
            .endsWith(
                "or send with replyTopic 'lora.replies'; this error was written to"
                    + " lora.replies instead"),
        e.getErrorMessage());
  }

  @Test
  void loraRepliesIsNeverLookedUp() {
    cluster.clear();
    InferenceResult ok = ok("r1");
    assertSame(ok, router.record(request("r1", "lora.replies"), ok, "b1").value());
    assertEquals(List.of(), asked);
  }

  @Test
  void otherResultsOfTheSameBatchAreStillDelivered() {
    cluster.remove(ACME);
    List<ProducerRecord<String, InferenceResult>> recs =
        List.of(
            router.record(request("lost", ACME), ok("lost"), "b1"),
            router.record(request("kept", "lora.replies"), ok("kept"), "b1"));
    assertEquals(List.of("lost", "kept"), recs.stream().map(ProducerRecord::key).toList());
    assertEquals(
        List.of("lora.replies", "lora.replies"), recs.stream().map(ProducerRecord::topic).toList());
    assertEquals(ErrorCode.INVALID_PARAMS, recs.get(0).value().getErrorCode());
    assertNull(recs.get(1).value().getErrorCode());
  }

  @Test
  void aLookupTheClusterCannotAnswerThrowsSoNothingIsWrittenOrLost() {
    failure =
        new TimeoutException(
            "cannot check reply topic 'lora.replies.acme': no answer within 5000 ms");
    assertThrows(TimeoutException.class, () -> router.record(request("r1", ACME), ok("r1"), "b1"));
    assertEquals(
        List.of(), rerouted, "not answered with an error: the consumer releases it again later");
  }

  static InferenceRequest request(String id, String replyTopic) {
    return InferenceRequest.newBuilder()
        .setRequestId(id)
        .setTenantId("acme")
        .setAdapterId("sql")
        .setPromptTokenIds(List.of(1, 2, 3))
        .setReplyTopic(replyTopic)
        .setCreatedEpochMs(0)
        .build();
  }

  static InferenceResult ok(String id) {
    return InferenceResult.newBuilder()
        .setRequestId(id)
        .setTenantId("acme")
        .setAdapterId("sql")
        .setText("SELECT 1")
        .setTokenIds(List.of(7, 8))
        .setFinishReason(FinishReason.STOP)
        .setUsage(new Usage(3, 2))
        .setTimings(new Timings(1L, 2L, 3L))
        .setBatchId("b1")
        .setServedBy("c1")
        .build();
  }
}
