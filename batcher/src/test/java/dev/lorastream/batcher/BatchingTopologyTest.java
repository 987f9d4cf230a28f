package dev.lorastream.batcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.schemas.FlushReason;
import dev.lorastream.schemas.InferenceBatch;
import dev.lorastream.schemas.InferenceRequest;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.test.TestRecord;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Batch forming, flushing, row order, routing and the buffer store. */
class BatchingTopologyTest {

  /**
   * Each Harness.request(id, adapter, 10, 10) uses 20 tokens; 3 fit the 64-token budget, 4 do not.
   */
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
                  "5",
                  BatcherConfig.MAX_DISTINCT_ADAPTERS,
                  "2",
                  BatcherConfig.MAX_WAIT_MS,
                  "50",
                  BatcherConfig.AFFINITY_SPREAD,
                  "2"));

  Harness h;

  private void open(BatcherConfig config) {
    h = new Harness(config);
    for (String a : List.of("a", "b", "c", "hot")) {
      h.adapter(a, "acme");
    }
  }

  @AfterEach
  void stop() {
    h.close();
  }

  private static List<String> ids(InferenceBatch b) {
    return b.getRequests().stream().map(InferenceRequest::getRequestId).toList();
  }

  private static int slot(TestRecord<String, InferenceBatch> r) {
    return Integer.parseInt(
        new String(
            r.headers().lastHeader(BatcherTopology.SPREAD_SLOT_HEADER).value(),
            StandardCharsets.UTF_8));
  }

  @Test
  void flushesWhenTheNextRequestWouldExceedTheTokenBudget() {
    open(CONFIG);
    for (int i = 0; i < 3; i++) {
      h.send(Harness.request("r" + i, "a", 10, 10));
    }
    assertTrue(h.batches.isEmpty(), "60 of 64 tokens: not full yet");
    h.send(Harness.request("r3", "a", 10, 10));
    TestRecord<String, InferenceBatch> out = h.batches.readRecord();
    InferenceBatch b = out.value();
    assertEquals(FlushReason.TOKEN_BUDGET, b.getFlushReason());
    assertEquals(List.of("r0", "r1", "r2"), ids(b));
    assertEquals(60, b.getTotalTokens());
    assertEquals("0_0-0", b.getBatchId());
    assertEquals(b.getBatchId(), out.key());
    assertEquals(Harness.T0.toEpochMilli(), b.getCreatedEpochMs());
    assertEquals(Harness.T0.toEpochMilli(), out.timestamp());
    assertEquals(
        List.of("r3"), h.bufferContents().stream().map(kv -> kv.value.getRequestId()).toList());
    assertEquals(1, h.counter(BatcherMetrics.BATCHES, "reason", "TOKEN_BUDGET"));
    assertEquals(60.0 / 64, h.meters.find(BatcherMetrics.BATCH_FILL).summary().max(), 1e-9);
  }

  @Test
  void flushesAtTheMaxRequestCount() {
    open(CONFIG);
    for (int i = 0; i < 5; i++) {
      h.send(Harness.request("r" + i, i % 2 == 0 ? "a" : null, 2, 2));
    }
    InferenceBatch b = h.batches.readValue();
    assertEquals(FlushReason.MAX_REQUESTS, b.getFlushReason());
    assertEquals(5, b.getRequests().size());
    assertEquals(20, b.getTotalTokens());
    assertTrue(h.bufferContents().isEmpty(), "the store is empty after a flush");
    assertEquals(5.0, h.meters.find(BatcherMetrics.BATCH_SIZE).summary().max());
  }

  @Test
  void flushesWhenTheNextAdapterWouldExceedTheDistinctAdapterLimit() {
    open(CONFIG);
    h.send(Harness.request("r-a", "a", 2, 2));
    h.send(Harness.request("r-base", null, 2, 2)); // base-model rows use no adapter slot
    h.send(Harness.request("r-b", "b", 2, 2));
    h.send(Harness.request("r-a2", "a", 2, 2)); // already in the batch: still fits
    assertTrue(h.batches.isEmpty());
    h.send(Harness.request("r-c", "c", 2, 2));
    InferenceBatch b = h.batches.readValue();
    assertEquals(FlushReason.MAX_ADAPTERS, b.getFlushReason());
    assertEquals(List.of("r-base", "r-a", "r-a2", "r-b"), ids(b));
    assertEquals(List.of("a", "b"), b.getAdapterIds());
    assertEquals(
        List.of("r-c"), h.bufferContents().stream().map(kv -> kv.value.getRequestId()).toList());
  }

  @Test
  void flushesWhenTheOldestRequestHasWaitedMaxWait() {
    open(CONFIG);
    h.send(Harness.request("r0", "a", 2, 2));
    h.advance(30);
    h.send(Harness.request("r1", "b", 2, 2));
    h.advance(19); // oldest waited 49 ms
    assertTrue(h.batches.isEmpty());
    assertEquals(2, h.meters.find(BatcherMetrics.BUFFERED).gauge().value());
    h.advance(1); // 50 ms
    TestRecord<String, InferenceBatch> out = h.batches.readRecord();
    assertEquals(FlushReason.MAX_WAIT, out.value().getFlushReason());
    assertEquals(List.of("r0", "r1"), ids(out.value()));
    assertEquals(
        Harness.T0.toEpochMilli() + 50,
        out.value().getCreatedEpochMs(),
        "closed at the wall clock");
    assertEquals(Harness.T0.toEpochMilli() + 50, out.timestamp());
    assertTrue(h.bufferContents().isEmpty());
    assertEquals(0, h.meters.find(BatcherMetrics.BUFFERED).gauge().value());
    assertEquals(
        50,
        h.meters
            .find(BatcherMetrics.BATCH_WAIT)
            .timer()
            .max(java.util.concurrent.TimeUnit.MILLISECONDS));
    h.advance(500);
    assertTrue(h.batches.isEmpty(), "an empty buffer never flushes");
  }

  @Test
  void rowsAreSortedByAdapterBaseModelFirstArrivalOrderWithin() {
    open(CONFIG.with(Map.of(BatcherConfig.MAX_DISTINCT_ADAPTERS, "3")));
    h.send(Harness.request("b1", "b", 1, 1));
    h.send(Harness.request("n1", null, 1, 1));
    h.send(Harness.request("a1", "a", 1, 1));
    h.send(Harness.request("b2", "b", 1, 1));
    h.send(Harness.request("a2", "a", 1, 1));
    InferenceBatch b = h.batches.readValue();
    assertEquals(List.of("n1", "a1", "a2", "b1", "b2"), ids(b));
    assertEquals(List.of("a", "b"), b.getAdapterIds());
    assertEquals("a", b.getAffinityKey(), "tie on rows: the smallest id");
  }

  @Test
  void bufferStoreHoldsRequestsInArrivalOrderUntilFlushed() {
    open(CONFIG);
    h.send(Harness.request("x", "b", 2, 2));
    h.send(Harness.request("y", "a", 2, 2));
    List<KeyValue<Long, InferenceRequest>> buffered = h.bufferContents();
    assertEquals(List.of(0L, 1L), buffered.stream().map(kv -> kv.key).toList());
    assertEquals(List.of("x", "y"), buffered.stream().map(kv -> kv.value.getRequestId()).toList());
    h.advance(50);
    assertEquals(1, h.batches.readRecordsToList().size());
    assertTrue(h.bufferContents().isEmpty());
    assertEquals(0L, (Long) h.driver.getKeyValueStore(BatcherTopology.SEQUENCE_STORE).get("batch"));
    h.send(Harness.request("z", "a", 2, 2));
    assertEquals(List.of(2L), h.bufferContents().stream().map(kv -> kv.key).toList());
    h.advance(50);
    assertEquals("0_0-1", h.batches.readValue().getBatchId());
  }

  @Test
  void hotAdapterBatchesRotateOverSpreadPartitionsOthersStayHome() {
    open(CONFIG.with(Map.of(BatcherConfig.MAX_BATCH_REQUESTS, "2")));
    for (int i = 0; i < 6; i++) {
      h.send(Harness.request("h" + i, "hot", 2, 2)); // three full single-adapter batches
    }
    h.send(Harness.request("m0", "hot", 2, 2));
    h.send(Harness.request("m1", "a", 2, 2)); // a full but mixed batch: not hot
    h.send(Harness.request("h6", "hot", 2, 2));
    h.advance(50); // a MAX_WAIT batch: not hot
    List<TestRecord<String, InferenceBatch>> out = h.batches.readRecordsToList();
    assertEquals(5, out.size());
    assertEquals(List.of(0, 1, 0, 0, 0), out.stream().map(BatchingTopologyTest::slot).toList());
    assertEquals(
        List.of("hot", "hot", "hot", "a", "hot"),
        out.stream().map(r -> r.value().getAffinityKey()).toList());

    int n = 8;
    int home = AffinityPartitioner.partition("hot", 0, n);
    var partitioner = new AffinityPartitioner();
    List<Integer> partitions =
        out.stream()
            .map(
                r ->
                    partitioner
                        .partitions("lora.batches", r.key(), new RoutedBatch(r.value(), slot(r)), n)
                        .orElseThrow()
                        .iterator()
                        .next())
            .toList();
    assertEquals(List.of(home, (home + 1) % n, home), partitions.subList(0, 3));
    assertEquals(
        home, partitions.get(4), "after a non-full batch the hot run starts again at home");
    assertEquals(1, h.meters.find(BatcherMetrics.BATCH_SPREAD).counter().count());
  }

  @Test
  void baseModelOnlyBatchHasNoAffinityKey() {
    open(CONFIG);
    h.send(Harness.request("n", null, 2, 2));
    h.advance(50);
    InferenceBatch b = h.batches.readValue();
    assertNull(b.getAffinityKey());
    assertEquals(List.of(), b.getAdapterIds());
  }
}
