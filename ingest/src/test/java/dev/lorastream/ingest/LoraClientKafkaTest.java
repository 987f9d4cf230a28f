package dev.lorastream.ingest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.schemas.ErrorCode;
import dev.lorastream.schemas.FinishReason;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.Topics;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;

/**
 * {@link LoraClient} against a real in-process broker, with {@link TestResponder} playing the
 * servers.
 */
class LoraClientKafkaTest {
  private static final AtomicInteger TOPICS = new AtomicInteger();

  private static LoraClientConfig config() {
    return config(3);
  }

  private static LoraClientConfig config(int replyPartitions) {
    String replies = "replies-client-" + TOPICS.incrementAndGet();
    KafkaTestCluster.createTopic(replies, replyPartitions);
    return LoraClientConfig.of(KafkaTestCluster.bootstrap(), KafkaTestCluster.REGISTRY_URL)
        .withReplyTopic(replies)
        .withDefaultTimeout(Duration.ofSeconds(30));
  }

  private static InferenceRequest.Builder prompt(String text) {
    return InferenceRequest.newBuilder().setTenantId("t1").setAdapterId("a1").setPrompt(text);
  }

  private static <T> T get(CompletableFuture<T> f) throws Exception {
    return f.get(30, TimeUnit.SECONDS);
  }

  @Test
  void correlatesConcurrentSubmitsFromManyThreads() throws Exception {
    MeterRegistry meters = new SimpleMeterRegistry();
    try (TestResponder responder =
            new TestResponder(r -> TestResponder.ok(r, "echo " + r.getPrompt()));
        LoraClient client = new LoraClient(config(), null, meters)) {
      ExecutorService pool = Executors.newFixedThreadPool(8);
      List<CompletableFuture<InferenceResult>> futures = new ArrayList<>();
      List<java.util.concurrent.Future<CompletableFuture<InferenceResult>>> submitted =
          new ArrayList<>();
      for (int i = 0; i < 200; i++) {
        String text = "doc-" + i;
        submitted.add(pool.submit(() -> client.submit(prompt(text))));
      }
      for (var s : submitted) {
        futures.add(s.get());
      }
      for (int i = 0; i < 200; i++) {
        InferenceResult r = get(futures.get(i));
        assertEquals("echo doc-" + i, r.getText());
        assertEquals(FinishReason.STOP, r.getFinishReason());
      }
      pool.shutdown();
      assertEquals(0, client.pending());
      assertEquals(200, responder.seen().size());
      InferenceRequest first = responder.seen().getFirst();
      assertEquals(client.config().replyTopic(), first.getReplyTopic());
      assertTrue(
          first.getCreatedEpochMs() > 0
              && first.getDeadlineEpochMs() == first.getCreatedEpochMs() + 30_000);
      assertEquals(36, first.getRequestId().length(), "a UUID was filled in");
      assertEquals(
          200, meters.get("lorastream.client.requests").tag("outcome", "ok").counter().count());
      assertEquals(
          200, meters.get("lorastream.client.latency").tag("outcome", "ok").timer().count());
      assertEquals(0, meters.get("lorastream.client.pending").gauge().value());
    }
  }

  @Test
  void outOfOrderRepliesReachTheirOwnFutures() throws Exception {
    try (TestResponder responder = new TestResponder(r -> TestResponder.ok(r, r.getPrompt()), 10);
        LoraClient client =
            new LoraClient(config(1))) { // one reply partition: replies arrive as sent
      List<CompletableFuture<InferenceResult>> futures = new ArrayList<>();
      List<String> completionOrder = new ArrayList<>();
      List<CompletableFuture<Void>> recorded = new ArrayList<>();
      for (int i = 0;
          i < 10;
          i++) { // the responder answers only once it has all 10, so nothing completes early
        CompletableFuture<InferenceResult> f =
            client.submit(prompt("p" + i).setRequestId("ooo-" + i));
        recorded.add(
            f.thenAccept(
                r -> {
                  synchronized (completionOrder) {
                    completionOrder.add(r.getText());
                  }
                }));
        futures.add(f);
      }
      for (int i = 0; i < 10; i++) {
        InferenceResult r = get(futures.get(i));
        assertEquals("p" + i, r.getText());
        assertEquals("ooo-" + i, r.getRequestId());
      }
      CompletableFuture.allOf(recorded.toArray(CompletableFuture[]::new)).get(30, TimeUnit.SECONDS);
      List<String> sentBack =
          new ArrayList<>(responder.seen().stream().map(InferenceRequest::getPrompt).toList());
      java.util.Collections.reverse(sentBack);
      synchronized (completionOrder) {
        assertEquals(
            sentBack, completionOrder, "futures completed in reply order, not submit order");
      }
      assertEquals(0, client.pending());
    }
  }

  @Test
  void errorRepliesCompleteNormallyWithTheirCode() throws Exception {
    MeterRegistry meters = new SimpleMeterRegistry();
    try (TestResponder responder =
            new TestResponder(
                r ->
                    TestResponder.error(
                        r, ErrorCode.UNKNOWN_ADAPTER, "no adapter " + r.getAdapterId()));
        LoraClient client = new LoraClient(config(), null, meters)) {
      InferenceResult r = get(client.submit(prompt("x")));
      assertEquals(FinishReason.ERROR, r.getFinishReason());
      assertEquals(ErrorCode.UNKNOWN_ADAPTER, r.getErrorCode());
      assertEquals("no adapter a1", r.getErrorMessage());
      assertEquals(
          1,
          meters
              .get("lorastream.client.requests")
              .tags("outcome", "error", "code", "UNKNOWN_ADAPTER")
              .counter()
              .count());
    }
  }

  @Test
  void repliesForUnknownIdsAndUndecodableOnesAreIgnored() throws Exception {
    MeterRegistry meters = new SimpleMeterRegistry();
    LoraClientConfig config = config();
    try (TestResponder responder = new TestResponder(r -> TestResponder.ok(r, "fine"), 1);
        LoraClient client = new LoraClient(config, null, meters);
        KafkaProducer<String, byte[]> stranger =
            new KafkaProducer<>(
                Map.of("bootstrap.servers", KafkaTestCluster.bootstrap()),
                new StringSerializer(),
                new ByteArraySerializer())) {
      // another client's reply (garbage bytes: never decoded, since nobody here waits for it) and a
      // keyless one
      stranger
          .send(
              new ProducerRecord<>(
                  config.replyTopic(),
                  "someone-elses-id",
                  "not avro".getBytes(StandardCharsets.UTF_8)))
          .get();
      stranger
          .send(new ProducerRecord<>(config.replyTopic(), null, new byte[] {0, 0, 0, 0, 1}))
          .get();
      assertEquals("fine", get(client.submit(prompt("x"))).getText());
      assertEquals(2, meters.get("lorastream.client.replies.unmatched").counter().count());
      assertEquals(0, client.pending());
    }
  }

  /** A producer of valid replies, standing in for a server that answers another tenant. */
  private static KafkaProducer<String, InferenceResult> replyWriter() {
    @SuppressWarnings("unchecked")
    Serializer<InferenceResult> values =
        (Serializer<InferenceResult>)
            (Serializer<?>)
                Topics.REPLIES
                    .valueSerde(Map.of("schema.registry.url", KafkaTestCluster.REGISTRY_URL))
                    .serializer();
    return new KafkaProducer<>(
        Map.of("bootstrap.servers", KafkaTestCluster.bootstrap()), new StringSerializer(), values);
  }

  private static InferenceResult completion(String tenant, String id, String text) {
    return InferenceResult.newBuilder()
        .setRequestId(id)
        .setTenantId(tenant)
        .setText(text)
        .setFinishReason(FinishReason.STOP)
        .build();
  }

  @Test
  void replyUnderTheSameIdForAnotherTenantDoesNotCompleteTheFuture() throws Exception {
    MeterRegistry meters = new SimpleMeterRegistry();
    LoraClientConfig config = config();
    try (LoraClient client = new LoraClient(config, null, meters);
        KafkaProducer<String, InferenceResult> servers = replyWriter()) {
      CompletableFuture<InferenceResult> f = client.submit(prompt("x").setRequestId("shared-id"));
      // Same key, so same partition: read in this order.
      servers
          .send(
              new ProducerRecord<>(
                  config.replyTopic(), "shared-id", completion("t2", "shared-id", "for t2")))
          .get();
      servers
          .send(
              new ProducerRecord<>(
                  config.replyTopic(), "shared-id", completion("t1", "shared-id", "for t1")))
          .get();

      InferenceResult r = get(f);
      assertEquals("for t1", r.getText());
      assertEquals("t1", r.getTenantId());
      assertEquals(1, meters.get("lorastream.client.replies.foreign").counter().count());
      assertEquals(0, meters.get("lorastream.client.replies.unmatched").counter().count());
      assertEquals(0, client.pending());
    }
  }

  @Test
  void duplicateRequestReplyCompletesTheFutureWithItsCode() throws Exception {
    MeterRegistry meters = new SimpleMeterRegistry();
    try (TestResponder batcher =
            new TestResponder(
                r ->
                    TestResponder.error(
                        r, ErrorCode.DUPLICATE_REQUEST, "duplicate request: " + r.getRequestId()));
        LoraClient client = new LoraClient(config(), null, meters)) {
      InferenceResult r = get(client.submit(prompt("again").setRequestId("retried")));
      assertEquals(ErrorCode.DUPLICATE_REQUEST, r.getErrorCode());
      assertEquals("duplicate request: retried", r.getErrorMessage());
      assertEquals(
          1,
          meters
              .get("lorastream.client.requests")
              .tags("outcome", "error", "code", "DUPLICATE_REQUEST")
              .counter()
              .count());
    }
  }

  @Test
  void undecodableReplyFailsOnlyItsOwnRequest() throws Exception {
    LoraClientConfig config = config();
    try (LoraClient client = new LoraClient(config);
        KafkaProducer<String, byte[]> broken =
            new KafkaProducer<>(
                Map.of("bootstrap.servers", KafkaTestCluster.bootstrap()),
                new StringSerializer(),
                new ByteArraySerializer())) {
      CompletableFuture<InferenceResult> f =
          client.submit(prompt("x").setRequestId("will-get-garbage"));
      broken
          .send(new ProducerRecord<>(config.replyTopic(), "will-get-garbage", new byte[] {7, 7}))
          .get();
      ExecutionException e = assertThrows(ExecutionException.class, () -> get(f));
      assertTrue(
          e.getCause().getMessage().contains("cannot be decoded"), e.getCause().getMessage());
      assertEquals(0, client.pending());
    }
  }

  @Test
  void timesOutAndForgetsTheRequest() throws Exception {
    MeterRegistry meters = new SimpleMeterRegistry();
    try (TestResponder responder =
            new TestResponder(
                r -> r.getPrompt().startsWith("drop") ? null : TestResponder.ok(r, "answered"));
        LoraClient client = new LoraClient(config(), null, meters)) {
      CompletableFuture<InferenceResult> dropped =
          client.submit(prompt("drop me"), Duration.ofMillis(700));
      CompletableFuture<InferenceResult> answered =
          client.submit(prompt("keep me"), Duration.ofSeconds(30));
      assertEquals("answered", get(answered).getText());
      ExecutionException e = assertThrows(ExecutionException.class, () -> get(dropped));
      assertInstanceOf(TimeoutException.class, e.getCause());
      assertTrue(e.getCause().getMessage().contains("within 700 ms"), e.getCause().getMessage());
      assertEquals(0, client.pending());
      assertEquals(
          1, meters.get("lorastream.client.requests").tag("outcome", "timeout").counter().count());
    }
  }

  @Test
  void closeFailsOutstandingFuturesAndLaterSubmits() throws Exception {
    MeterRegistry meters = new SimpleMeterRegistry();
    CompletableFuture<InferenceResult> waiting;
    LoraClient client;
    try (TestResponder responder = new TestResponder(r -> null)) {
      client = new LoraClient(config(), null, meters);
      waiting = client.submit(prompt("never answered"));
      assertEquals(1, client.pending());
      client.close();
      client.close(); // idempotent
    }
    ExecutionException e = assertThrows(ExecutionException.class, () -> get(waiting));
    assertInstanceOf(LoraClient.ClosedException.class, e.getCause());
    assertEquals(0, client.pending());
    ExecutionException later =
        assertThrows(ExecutionException.class, () -> get(client.submit(prompt("late"))));
    assertInstanceOf(LoraClient.ClosedException.class, later.getCause());
    assertEquals(0, client.pending());
    assertEquals(
        2, meters.get("lorastream.client.requests").tag("outcome", "closed").counter().count());
    assertNull(meters.find("lorastream.client.pending").gauge(), "gauge removed on close");
  }

  @Test
  void invalidRequestsFailWithoutBeingSent() throws Exception {
    try (LoraClient client = new LoraClient(config())) {
      var noTenant =
          assertThrows(
              ExecutionException.class,
              () -> get(client.submit(InferenceRequest.newBuilder().setPrompt("x"))));
      assertInstanceOf(IllegalArgumentException.class, noTenant.getCause());
      var noPrompt =
          assertThrows(
              ExecutionException.class,
              () -> get(client.submit(InferenceRequest.newBuilder().setTenantId("t"))));
      assertTrue(noPrompt.getCause().getMessage().contains("neither prompt nor promptTokenIds"));
      CompletableFuture<InferenceResult> first =
          client.submit(prompt("a").setRequestId("dup"), Duration.ofSeconds(2));
      var dup =
          assertThrows(
              ExecutionException.class, () -> get(client.submit(prompt("b").setRequestId("dup"))));
      assertInstanceOf(IllegalArgumentException.class, dup.getCause());
      assertEquals(
          "request id 'dup' is already pending on this client (tenant 't1'): two replies under one"
              + " id cannot be told apart; wait for the first, or send with a new requestId",
          dup.getCause().getMessage());
      first.cancel(false);
      assertEquals(0, client.pending(), "a cancelled future is forgotten too");
    }
  }

  @Test
  void missingReplyTopicFailsAtStart() {
    var e =
        assertThrows(
            IllegalStateException.class,
            () ->
                new LoraClient(
                    LoraClientConfig.of(KafkaTestCluster.bootstrap(), KafkaTestCluster.REGISTRY_URL)
                        .withReplyTopic("no-such-topic")
                        .withKafkaOverrides(Map.of("default.api.timeout.ms", 5000))));
    assertTrue(e.getMessage().contains("no-such-topic"), e.getMessage());
  }

  @Test
  void usesTheTokenizerForTextOnlyPrompts() throws Exception {
    try (PromptTokenizer tok =
            PromptTokenizer.load(
                java.nio.file.Path.of(
                    LoraClientKafkaTest.class.getResource("/model/tokenizer.json").toURI()));
        TestResponder responder =
            new TestResponder(r -> TestResponder.ok(r, r.getPromptTokenIds().toString()));
        LoraClient client = new LoraClient(config(), tok, null)) {
      assertEquals("[1, 2, 0]", get(client.submit(prompt("Hello world unknown"))).getText());
      var given = prompt("ignored").setPromptTokenIds(List.of(3, 3));
      assertEquals("[3, 3]", get(client.submit(given)).getText(), "ids the caller gave are kept");
    }
  }
}
