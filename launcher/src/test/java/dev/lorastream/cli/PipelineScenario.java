package dev.lorastream.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.batcher.BatcherApp;
import dev.lorastream.batcher.BatcherConfig;
import dev.lorastream.consumer.ConsumerSettings;
import dev.lorastream.consumer.InferenceConsumer;
import dev.lorastream.engine.sched.EngineConfig;
import dev.lorastream.ingest.LoraClient;
import dev.lorastream.ingest.LoraClientConfig;
import dev.lorastream.ingest.PromptTokenizer;
import dev.lorastream.schemas.ConsumerResidency;
import dev.lorastream.schemas.DlqHeaders;
import dev.lorastream.schemas.FinishReason;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.SamplingParams;
import dev.lorastream.schemas.Topics;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The whole path on a given broker: client → lora.requests → batcher → lora.batches → consumer →
 * replies, with every kind of bad input on the way, and the services still serving afterwards.
 * Shared by the in-process broker test and the Testcontainers one.
 */
final class PipelineScenario {
  private PipelineScenario() {}

  static void run(String bootstrap, Path tmp) throws Exception {
    DemoFixtures fx =
        DemoFixtures.prepare(tmp, tmp.resolve("work"), 6); // tmp has no trained model: tiny
    String registry = "mock://pipeline-" + System.nanoTime();
    Map<String, Object> serde = Map.of("schema.registry.url", registry);
    DemoFixtures.createTopics(bootstrap);
    fx.publishAdapters(bootstrap, serde);
    Properties bp = new Properties();
    bp.put("bootstrap.servers", bootstrap);
    bp.put("schema.registry.url", registry);
    bp.put("state.dir", Files.createTempDirectory(tmp, "batcher").toString());
    bp.put(BatcherConfig.METRICS_PORT, "-1");
    bp.put(BatcherConfig.MAX_WAIT_MS, "20");
    bp.put(BatcherConfig.MAX_PROMPT_TOKENS, "64");
    bp.put(BatcherConfig.MAX_NEW_TOKENS, "32");
    bp.put(BatcherConfig.MAX_BATCH_TOKENS, "1024");
    bp.put("commit.interval.ms", "50");
    ConsumerSettings cs =
        ConsumerSettings.from(
            Map.of(
                ConsumerSettings.BOOTSTRAP,
                bootstrap,
                ConsumerSettings.REGISTRY,
                registry,
                ConsumerSettings.MODEL,
                fx.modelDir().toString(),
                ConsumerSettings.ADAPTER_ROOTS,
                fx.adapterRoots().get(fx.adapterRoots().size() - 1).toString(),
                ConsumerSettings.ID,
                "it-consumer",
                ConsumerSettings.METRICS_PORT,
                "-1"));
    try (BatcherApp batcher = BatcherApp.start(BatcherConfig.fromProperties(bp));
        InferenceConsumer consumer =
            new InferenceConsumer(cs, EngineConfig.defaults(), new SimpleMeterRegistry());
        PromptTokenizer tok = PromptTokenizer.load(fx.modelDir());
        LoraClient client =
            new LoraClient(
                LoraClientConfig.of(bootstrap, registry).withDefaultTimeout(Duration.ofSeconds(90)),
                tok,
                null)) {
      Thread serving = Thread.ofPlatform().start(() -> serve(consumer));
      assertTrue(batcher.awaitRunning(Duration.ofSeconds(60)), "batcher running");

      String own = firstOwnedBy(fx, "acme");
      String publicAdapter =
          fx.adapters().entrySet().stream()
              .filter(e -> e.getValue() == null)
              .findFirst()
              .orElseThrow()
              .getKey();
      List<CompletableFuture<InferenceResult>> ok = new ArrayList<>();
      ok.add(client.submit(req("acme", own, "The licence", 8, 0.7f)));
      ok.add(client.submit(req("globex", publicAdapter, "def main", 8, 0f)));
      ok.add(client.submit(req("initech", null, "Hello", 8, 0f)));
      var forbidden = client.submit(req("globex", own, "x", 4, 0f));
      var unknown = client.submit(req("acme", "no-such-adapter", "x", 4, 0f));
      var tooLong = client.submit(req("acme", own, "word ".repeat(200), 4, 0f));
      var badParams = client.submit(req("acme", own, "x", 4, -1f));
      sendGarbage(bootstrap);
      var afterGarbage = client.submit(req("acme", own, "still serving", 6, 0f));

      for (var f : ok) {
        InferenceResult r = f.get(120, TimeUnit.SECONDS);
        assertNull(r.getErrorCode(), r.getRequestId() + ": " + r.getErrorMessage());
        if (r.getFinishReason() == FinishReason.LENGTH) {
          assertEquals(8, r.getTokenIds().size());
        } else {
          assertEquals(FinishReason.STOP, r.getFinishReason());
          assertTrue(r.getTokenIds().size() < 8);
        }
        assertEquals("it-consumer", r.getServedBy());
      }
      assertEquals("ADAPTER_FORBIDDEN", code(forbidden));
      assertEquals("UNKNOWN_ADAPTER", code(unknown));
      assertEquals("PROMPT_TOO_LONG", code(tooLong));
      assertEquals("INVALID_PARAMS", code(badParams));
      InferenceResult last = afterGarbage.get(120, TimeUnit.SECONDS);
      assertNull(last.getErrorCode(), "the pipeline keeps serving after a malformed record");
      ConsumerRecord<byte[], byte[]> dlq = readDlq(bootstrap);
      assertEquals("not avro at all", new String(dlq.value(), StandardCharsets.UTF_8));
      assertNotNull(dlq.headers().lastHeader(DlqHeaders.REASON), "reason header");
      assertEquals(0, client.pending());
      // the consumer tells the batchers what it holds: its partitions and the adapter it served
      ConsumerResidency held =
          awaitResidency(
              bootstrap,
              serde,
              r -> r != null && r.getBackendAdapters().contains(own),
              "a lora.residency record of it-consumer holding " + own);
      assertEquals("it-consumer", held.getConsumerId());
      assertFalse(held.getBatchPartitions().isEmpty(), "its lora.batches partitions");
      consumer.stop();
      serving.join(10_000);
    }
    awaitResidency(bootstrap, serde, r -> r == null, "the tombstone of it-consumer at close");
  }

  /**
   * Reads lora.residency from the beginning until the latest record keyed it-consumer (null for a
   * tombstone) satisfies {@code wanted}, for 30 s at most; returns it.
   */
  private static ConsumerResidency awaitResidency(
      String bootstrap,
      Map<String, Object> serde,
      java.util.function.Predicate<ConsumerResidency> wanted,
      String what) {
    Map<String, Object> props = new java.util.HashMap<>(serde);
    props.put("bootstrap.servers", bootstrap);
    try (KafkaConsumer<String, ConsumerResidency> c =
        new KafkaConsumer<>(
            props,
            new org.apache.kafka.common.serialization.StringDeserializer(),
            Topics.RESIDENCY.valueSerde(serde).deserializer())) {
      var p0 = new org.apache.kafka.common.TopicPartition(Topics.RESIDENCY.name(), 0);
      c.assign(List.of(p0));
      c.seekToBeginning(List.of(p0));
      long end = System.currentTimeMillis() + 30_000;
      while (System.currentTimeMillis() < end) {
        for (ConsumerRecord<String, ConsumerResidency> r : c.poll(Duration.ofMillis(200))) {
          if ("it-consumer".equals(r.key()) && wanted.test(r.value())) {
            return r.value();
          }
        }
      }
    }
    throw new AssertionError("not seen within 30 s: " + what);
  }

  private static String firstOwnedBy(DemoFixtures fx, String tenant) {
    return fx.adapters().entrySet().stream()
        .filter(e -> tenant.equals(e.getValue()))
        .findFirst()
        .orElseThrow()
        .getKey();
  }

  private static InferenceRequest.Builder req(
      String tenant, String adapter, String prompt, int max, float temp) {
    return InferenceRequest.newBuilder()
        .setTenantId(tenant)
        .setAdapterId(adapter)
        .setPrompt(prompt)
        .setSampling(
            SamplingParams.newBuilder().setMaxTokens(max).setTemperature(temp).setSeed(3).build());
  }

  private static String code(CompletableFuture<InferenceResult> f) throws Exception {
    InferenceResult r = f.get(120, TimeUnit.SECONDS);
    return r.getErrorCode() == null ? "none" : r.getErrorCode().name();
  }

  private static void sendGarbage(String bootstrap) throws Exception {
    try (KafkaProducer<String, byte[]> p =
        new KafkaProducer<>(
            Map.of("bootstrap.servers", bootstrap),
            new StringSerializer(),
            new org.apache.kafka.common.serialization.ByteArraySerializer())) {
      p.send(
              new ProducerRecord<>(
                  Topics.REQUESTS.name(),
                  "garbage",
                  "not avro at all".getBytes(StandardCharsets.UTF_8)))
          .get();
    }
  }

  private static ConsumerRecord<byte[], byte[]> readDlq(String bootstrap) {
    try (KafkaConsumer<byte[], byte[]> c =
        new KafkaConsumer<>(
            Map.of(
                "bootstrap.servers", bootstrap,
                "group.id", "dlq-reader",
                "auto.offset.reset", "earliest",
                "isolation.level", "read_committed"),
            new ByteArrayDeserializer(),
            new ByteArrayDeserializer())) {
      c.subscribe(Set.of(Topics.REQUESTS_DLQ.name()));
      long end = System.currentTimeMillis() + 60_000;
      while (System.currentTimeMillis() < end) {
        for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(200))) {
          return r;
        }
      }
    }
    throw new AssertionError("nothing reached " + Topics.REQUESTS_DLQ.name());
  }

  private static void serve(InferenceConsumer consumer) {
    try {
      consumer.run();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
