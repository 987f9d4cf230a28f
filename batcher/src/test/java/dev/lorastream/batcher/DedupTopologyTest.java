package dev.lorastream.batcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.schemas.ErrorCode;
import dev.lorastream.schemas.FinishReason;
import dev.lorastream.schemas.InferenceBatch;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.Topics;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.test.TestRecord;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** {@link DedupProcessor}: a (tenantId, requestId) is answered once within the window. */
class DedupTopologyTest {

  static final long WINDOW_MS = 10_000;

  static final BatcherConfig CONFIG =
      BatcherConfig.defaults()
          .with(Map.of(BatcherConfig.DEDUP_WINDOW_MS, Long.toString(WINDOW_MS)));

  Harness h;
  TestOutputTopic<String, InferenceResult> replies;

  private void open(BatcherConfig config) {
    h = new Harness(config);
    replies = h.replies(Topics.REPLIES.name());
    h.adapter("acme-sql", "acme");
  }

  @AfterEach
  void stop() {
    h.close();
  }

  private static InferenceRequest of(String tenant, String id) {
    return InferenceRequest.newBuilder(Harness.request(id, null)).setTenantId(tenant).build();
  }

  /** Every batch flushed so far (max.wait is 50 ms: advancing flushes the buffer). */
  private List<InferenceBatch> flushed() {
    h.advance(BatcherConfig.defaults().maxWaitMs());
    return h.batches.readValuesToList();
  }

  private static List<String> rows(List<InferenceBatch> batches) {
    List<String> out = new ArrayList<>();
    for (InferenceBatch b : batches) {
      b.getRequests().forEach(r -> out.add(r.getTenantId() + "/" + r.getRequestId()));
    }
    return out;
  }

  private List<KeyValue<Bytes, Long>> store() {
    List<KeyValue<Bytes, Long>> out = new ArrayList<>();
    try (var it = h.driver.<Bytes, Long>getKeyValueStore(BatcherTopology.DEDUP_STORE).all()) {
      it.forEachRemaining(out::add);
    }
    return out;
  }

  @Test
  void aRecordNotKeyedByItsRequestIdIsRefusedSoNoCopyCanDodgeTheCheckOnAnotherPartition() {
    open(CONFIG);
    byte[] value = h.requestSerializer.serialize(Topics.REQUESTS.name(), of("acme", "r1"));
    h.sendBytes(null, value);
    h.sendBytes("other".getBytes(StandardCharsets.UTF_8), value);

    var nullKey = replies.readRecord().value();
    assertEquals(ErrorCode.INVALID_PARAMS, nullKey.getErrorCode());
    assertEquals(
        "the record key must be the requestId 'r1' (UTF-8) but is null: a (tenantId, requestId) is"
            + " answered once only when every copy of it is keyed by its requestId and so lands on"
            + " one partition; send with key = requestId",
        nullKey.getErrorMessage());
    var otherKey = replies.readRecord().value();
    assertEquals(ErrorCode.INVALID_PARAMS, otherKey.getErrorCode());
    assertTrue(
        otherKey
            .getErrorMessage()
            .startsWith("the record key must be the requestId 'r1' (UTF-8) but is 'other'"),
        otherKey.getErrorMessage());
    assertEquals(List.of(), store(), "a refused record is not remembered");

    h.send(of("acme", "r1")); // keyed by its id: the first real request, batched
    assertEquals(List.of("acme/r1"), rows(flushed()));
    assertTrue(replies.isEmpty());
  }

  @Test
  void sameIdTwiceFromOneTenantIsBatchedOnceAndTheRepeatGetsDuplicateRequest() {
    open(CONFIG);
    h.send(of("acme", "r1"));
    h.advance(5_000);
    h.send(of("acme", "r1"));

    assertEquals(List.of("acme/r1"), rows(flushed()), "only the first is batched");
    List<TestRecord<String, InferenceResult>> out = replies.readRecordsToList();
    assertEquals(1, out.size(), "one reply: the repeat's");
    assertEquals("r1", out.getFirst().key());
    InferenceResult r = out.getFirst().value();
    assertEquals("r1", r.getRequestId());
    assertEquals("acme", r.getTenantId());
    assertEquals(FinishReason.ERROR, r.getFinishReason());
    assertEquals(ErrorCode.DUPLICATE_REQUEST, r.getErrorCode());
    assertEquals(
        "duplicate request: tenant 'acme' already sent requestId 'r1'; the batcher read the first"
            + " at 2027-01-15T08:00:00Z, 5000 ms before this one. A (tenantId, requestId) is"
            + " answered once within batcher.dedup.window.ms=10000: the first request's reply is"
            + " the answer; send a new requestId to ask again",
        r.getErrorMessage());
    assertNull(r.getBatchId());
    assertEquals(
        1, h.counter(BatcherMetrics.REQUESTS, "outcome", "rejected", "code", "DUPLICATE_REQUEST"));
    assertEquals(1, h.counter(BatcherMetrics.REQUESTS, "outcome", "accepted", "code", "none"));
  }

  @Test
  void sameIdFromTwoTenantsIsTwoRequests() {
    open(CONFIG);
    h.send(of("acme", "r1"));
    h.send(of("globex", "r1"));
    // Without the length prefix both pairs would be the bytes "abcx".
    h.send(of("ab", "cx"));
    h.send(of("abc", "x"));

    assertEquals(List.of("acme/r1", "globex/r1", "ab/cx", "abc/x"), rows(flushed()));
    assertTrue(replies.isEmpty(), "no duplicate among them");
  }

  @Test
  void repeatAtTheEndOfTheWindowIsRefusedAndAfterItServedAgain() {
    open(CONFIG);
    h.send(of("acme", "r1"));
    h.advance(WINDOW_MS - 1);
    h.send(of("acme", "r1"));
    assertEquals(
        ErrorCode.DUPLICATE_REQUEST, replies.readValue().getErrorCode(), "1 ms before the end");
    h.advance(1);
    h.send(of("acme", "r1"));

    assertEquals(List.of("acme/r1", "acme/r1"), rows(flushed()));
    assertTrue(replies.isEmpty(), "the repeat after the window is served, not refused");
    h.send(of("acme", "r1"));
    assertEquals(
        ErrorCode.DUPLICATE_REQUEST,
        replies.readValue().getErrorCode(),
        "the window starts again at the request served after it");
  }

  @Test
  void repeatOfARejectedRequestIsRefusedAsADuplicate() {
    open(CONFIG);
    h.send(InferenceRequest.newBuilder(of("acme", "r1")).setAdapterId("no-such").build());
    h.send(of("acme", "r1"));

    List<InferenceResult> out = replies.readValuesToList();
    assertEquals(
        List.of(ErrorCode.UNKNOWN_ADAPTER, ErrorCode.DUPLICATE_REQUEST),
        out.stream().map(InferenceResult::getErrorCode).toList());
    assertEquals(List.of(), rows(flushed()));
  }

  @Test
  void duplicateReplyGoesToTheRequestsOwnReplyTopicWhenAllowed() {
    open(CONFIG);
    TestOutputTopic<String, InferenceResult> own = h.replies("lora.replies.acme");
    h.send(
        InferenceRequest.newBuilder(of("acme", "r1")).setReplyTopic("lora.replies.acme").build());
    h.send(
        InferenceRequest.newBuilder(of("acme", "r1")).setReplyTopic("lora.replies.acme").build());
    h.send(
        InferenceRequest.newBuilder(of("acme", "r1")).setReplyTopic("lora.replies.globex").build());

    assertEquals(ErrorCode.DUPLICATE_REQUEST, own.readValue().getErrorCode());
    assertTrue(own.isEmpty());
    InferenceResult rerouted = replies.readValue();
    assertEquals(ErrorCode.DUPLICATE_REQUEST, rerouted.getErrorCode());
    assertTrue(
        rerouted
            .getErrorMessage()
            .endsWith(
                "; this error was written to lora.replies because replyTopic"
                    + " 'lora.replies.globex' may not be used or cannot be written"),
        rerouted.getErrorMessage());
  }

  @Test
  void expiredPairsArePurgedButAPairReadAgainAfterExpiryIsKept() {
    open(CONFIG); // the purge runs at T0 + 1 s, 2 s, ... (wall clock, when it is advanced)
    h.advance(100);
    h.send(of("acme", "r1"));
    h.send(of("acme", "r2"));
    assertEquals(4, store().size(), "two pairs, two time-index entries");
    h.advance(WINDOW_MS - 100); // the purge at T0 + 10 s: nothing has expired yet
    h.advance(500); // both expired at T0 + 10.1 s; no purge until T0 + 11 s
    h.send(of("acme", "r1")); // expired, so served again, and read at T0 + 10.5 s
    h.advance(500); // the purge at T0 + 11 s removes what was read at or before T0 + 1 s
    assertEquals(2, store().size(), "r2 is gone; r1's new entry and its index entry are kept");
    h.send(of("acme", "r1"));
    assertEquals(ErrorCode.DUPLICATE_REQUEST, replies.readValue().getErrorCode());
    h.advance(WINDOW_MS);
    assertEquals(List.of(), store(), "everything expired is purged");
  }

  @Test
  void theStoreIsChangelogged() {
    open(CONFIG);
    h.send(of("acme", "r1"));

    String changelog = "batcher-test-" + BatcherTopology.DEDUP_STORE + "-changelog";
    assertTrue(
        h.driver.producedTopicNames().contains(changelog),
        String.valueOf(h.driver.producedTopicNames()));
    List<Long> firstRead =
        h.driver
            .createOutputTopic(
                changelog, Serdes.Bytes().deserializer(), Serdes.Long().deserializer())
            .readValuesToList();
    long t0 = Harness.T0.toEpochMilli();
    assertEquals(List.of(t0, t0), firstRead, "the pair and its time-index entry");
  }
}
