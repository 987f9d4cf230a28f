package dev.lorastream.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.batcher.BatcherApp;
import dev.lorastream.batcher.BatcherConfig;
import dev.lorastream.batcher.BatcherMetrics;
import dev.lorastream.consumer.InferenceConsumer;
import dev.lorastream.devstack.TestKafkaCluster;
import dev.lorastream.engine.sched.EngineConfig;
import dev.lorastream.ingest.LoraClient;
import dev.lorastream.ingest.LoraClientConfig;
import dev.lorastream.ingest.PromptTokenizer;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.SamplingParams;
import dev.lorastream.schemas.Topics;
import dev.lorastream.schemas.Tracing;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.opentelemetry.api.trace.SpanId;
import io.opentelemetry.sdk.OpenTelemetrySdk;
import io.opentelemetry.sdk.testing.exporter.InMemorySpanExporter;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SimpleSpanProcessor;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * One traced request through client, batcher and inference consumer (in-process broker, the
 * generated tiny model), all exporting to one in-memory exporter: the span tree, its order and
 * attributes; and a malformed {@code traceparent} header, ignored and counted while the request is
 * served.
 */
class TracingPipelineTest {
  @TempDir Path tmp;

  @Test
  void aRequestsSpansHangUnderTheClientsSpanInStageOrder() throws Exception {
    DemoFixtures fx = DemoFixtures.prepare(tmp, tmp.resolve("work"), 0);
    String registry = "mock://tracing-" + System.nanoTime();
    InMemorySpanExporter spans = InMemorySpanExporter.create();
    try (OpenTelemetrySdk otel =
            OpenTelemetrySdk.builder()
                .setTracerProvider(
                    SdkTracerProvider.builder()
                        .addSpanProcessor(SimpleSpanProcessor.create(spans))
                        .build())
                .build();
        TestKafkaCluster cluster = TestKafkaCluster.start()) {
      DemoFixtures.createTopics(cluster.bootstrapServers());
      Properties bp =
          DemoFixtures.batcherProperties(cluster.bootstrapServers(), registry, "tracing");
      try (BatcherApp batcher = BatcherApp.start(BatcherConfig.fromProperties(bp), otel);
          InferenceConsumer consumer =
              new InferenceConsumer(
                  fx.consumerSettings(
                      cluster.bootstrapServers(), registry, "tracing-consumer", Map.of()),
                  EngineConfig.defaults(),
                  new SimpleMeterRegistry(),
                  otel);
          PromptTokenizer tok = PromptTokenizer.load(fx.modelDir());
          LoraClient client =
              new LoraClient(
                  LoraClientConfig.of(cluster.bootstrapServers(), registry)
                      .withDefaultTimeout(Duration.ofSeconds(60)),
                  tok,
                  null,
                  otel)) {
        Thread serving = Thread.ofPlatform().start(() -> DemoFixtures.serve(consumer, "tracing"));
        assertTrue(batcher.awaitRunning(Duration.ofSeconds(60)), "batcher running");

        InferenceResult r = client.submit(req("traced")).get(60, TimeUnit.SECONDS);
        assertNull(r.getErrorCode(), r.getErrorMessage());
        List<SpanData> tree = awaitSpans(spans, 7);
        SpanData root =
            tree.stream().filter(s -> s.getName().equals("lorastream.request")).findFirst().get();
        assertEquals(SpanId.getInvalid(), root.getParentSpanId(), "the client's span is the root");
        List<SpanData> children =
            tree.stream()
                .filter(s -> s != root)
                .sorted(Comparator.comparingLong(SpanData::getStartEpochNanos))
                .toList();
        assertEquals(
            List.of("queue", "batch", "admission", "prefill", "decode", "commit"),
            children.stream().map(SpanData::getName).toList());
        long previousEnd = 0;
        for (SpanData s : children) {
          assertEquals(root.getTraceId(), s.getTraceId(), s.getName());
          assertEquals(root.getSpanId(), s.getParentSpanId(), s.getName());
          assertEquals("acme", s.getAttributes().get(Tracing.TENANT), s.getName());
          assertEquals(r.getBatchId(), s.getAttributes().get(Tracing.BATCH_ID), s.getName());
          assertTrue(s.getEndEpochNanos() >= s.getStartEpochNanos(), s.getName());
          assertTrue(
              s.getStartEpochNanos() >= previousEnd,
              s.getName() + " starts after the one before ends");
          previousEnd = s.getEndEpochNanos();
        }
        // The client reads the reply once the transaction's markers are written, which can be
        // before the consumer's thread sees commitTransaction return and takes the commit's end
        SpanData commit = children.getLast();
        assertTrue(
            root.getEndEpochNanos() >= commit.getStartEpochNanos(),
            () ->
                "the reply comes after the commit began: client span ends "
                    + root.getEndEpochNanos()
                    + ", commit span "
                    + commit.getStartEpochNanos()
                    + ".."
                    + commit.getEndEpochNanos());
        assertEquals(r.getBatchId(), root.getAttributes().get(Tracing.BATCH_ID));

        // a producer's malformed traceparent header: served, not traced, counted by the batcher
        spans.reset();
        try (KafkaProducer<String, InferenceRequest> p =
            new KafkaProducer<>(
                Map.of("bootstrap.servers", cluster.bootstrapServers()),
                new StringSerializer(),
                Topics.REQUESTS.valueSerde(Map.of("schema.registry.url", registry)).serializer())) {
          InferenceRequest bad =
              req("malformed")
                  .setRequestId("malformed")
                  .setReplyTopic(Topics.REPLIES.name())
                  .setCreatedEpochMs(System.currentTimeMillis())
                  .setPromptTokenIds(tok.encode("Once upon a time"))
                  .build();
          ProducerRecord<String, InferenceRequest> rec =
              new ProducerRecord<>(Topics.REQUESTS.name(), "malformed", bad);
          rec.headers().add(Tracing.TRACEPARENT, "00-not-a-trace".getBytes(StandardCharsets.UTF_8));
          p.send(rec).get();
        }
        InferenceResult after = client.submit(req("after")).get(60, TimeUnit.SECONDS);
        assertNull(after.getErrorCode(), after.getErrorMessage());
        long until = System.currentTimeMillis() + 30_000;
        while (batcher.registry().counter(BatcherMetrics.TRACEPARENT_INVALID).count() < 1
            && System.currentTimeMillis() < until) {
          Thread.sleep(20);
        }
        assertEquals(1.0, batcher.registry().counter(BatcherMetrics.TRACEPARENT_INVALID).count());
        assertTrue(
            awaitSpans(spans, 7).stream()
                .allMatch(s -> !"malformed".equals(s.getAttributes().get(Tracing.REQUEST_ID))),
            "the malformed request has no spans");

        // a producer that sets only the header (as OpenTelemetry's Kafka instrumentation does):
        // the servers' spans go under it
        spans.reset();
        String traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
        String parentId = "00f067aa0ba902b7";
        try (KafkaProducer<String, InferenceRequest> p =
            new KafkaProducer<>(
                Map.of("bootstrap.servers", cluster.bootstrapServers()),
                new StringSerializer(),
                Topics.REQUESTS.valueSerde(Map.of("schema.registry.url", registry)).serializer())) {
          InferenceRequest plain =
              req("header-only")
                  .setReplyTopic(Topics.REPLIES.name())
                  .setCreatedEpochMs(System.currentTimeMillis())
                  .setPromptTokenIds(tok.encode("Once upon a time"))
                  .build();
          ProducerRecord<String, InferenceRequest> rec =
              new ProducerRecord<>(Topics.REQUESTS.name(), "header-only", plain);
          rec.headers()
              .add(
                  Tracing.TRACEPARENT,
                  ("00-" + traceId + "-" + parentId + "-01").getBytes(StandardCharsets.UTF_8));
          p.send(rec).get();
        }
        List<SpanData> servers = awaitSpans(spans, 6);
        for (SpanData s : servers) {
          assertEquals(traceId, s.getTraceId(), s.getName());
          assertEquals(parentId, s.getParentSpanId(), s.getName());
        }
        consumer.stop();
        serving.join(10_000);
      }
    }
  }

  /** The spans exported once there are {@code n} (or what there is after 30 s). */
  private static List<SpanData> awaitSpans(InMemorySpanExporter spans, int n)
      throws InterruptedException {
    long until = System.currentTimeMillis() + 30_000;
    while (spans.getFinishedSpanItems().size() < n && System.currentTimeMillis() < until) {
      Thread.sleep(20);
    }
    List<SpanData> got = spans.getFinishedSpanItems();
    assertEquals(n, got.size(), got.toString());
    return got;
  }

  private static InferenceRequest.Builder req(String id) {
    return InferenceRequest.newBuilder()
        .setTenantId("acme")
        .setRequestId(id)
        .setPrompt("Once upon a time")
        .setSampling(
            SamplingParams.newBuilder()
                .setMaxTokens(8)
                .setTemperature(0f)
                .setIgnoreEos(true)
                .build());
  }
}
