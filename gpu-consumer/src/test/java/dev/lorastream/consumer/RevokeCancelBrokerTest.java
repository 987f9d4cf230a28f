package dev.lorastream.consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.devstack.TestKafkaCluster;
import dev.lorastream.engine.sched.EngineConfig;
import dev.lorastream.engine.testdata.ModelGenerator;
import dev.lorastream.schemas.InferenceBatch;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.SamplingParams;
import dev.lorastream.schemas.Topic;
import dev.lorastream.schemas.Topics;
import dev.lorastream.schemas.registry.MockSchemaRegistry;
import dev.lorastream.schemas.serde.AvroSerdeConfig;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A partition taken from an inference consumer by a rebalance, on a real broker with the consumer
 * in this JVM on the tiny model: the requests of that partition still queued or running in its
 * engine are cancelled there (the new owner computes them), instead of being generated to the end
 * and thrown away.
 */
class RevokeCancelBrokerTest {
  static final String SCOPE = "consumer-revoke-cancel-test";
  static final Map<String, Object> SERDE =
      Map.of(AvroSerdeConfig.SCHEMA_REGISTRY_URL, MockSchemaRegistry.URL_PREFIX + SCOPE);
  // per partition: 64 x 500 tokens at 2 sequences a step is many times the work done while the
  // group rebalances (under 10,000 tokens here with the default 3 s heartbeat, far fewer at 0.1 s),
  // so most requests are still queued or running when the partition is taken
  static final int ROWS = 64;
  static final int MAX_TOKENS = 500; // with 3 prompt tokens, near the tiny model's 512 context

  @TempDir Path tmp;

  @Test
  void requestsOfARevokedPartitionAreCancelledInTheEngine() throws Exception {
    Path model = tmp.resolve("model");
    ModelGenerator.make("tiny", ModelGenerator.Options.defaults(), model);
    try (TestKafkaCluster broker = TestKafkaCluster.start()) {
      for (Topic<?, ?> t : Topics.all()) {
        broker.createTopic(t.name(), t == Topics.BATCHES ? 2 : 1, t.topicConfigs());
      }
      ConsumerSettings settings =
          ConsumerSettings.from(
              Map.of(
                  ConsumerSettings.BOOTSTRAP,
                  broker.bootstrapServers(),
                  ConsumerSettings.REGISTRY,
                  (String) SERDE.get(AvroSerdeConfig.SCHEMA_REGISTRY_URL),
                  ConsumerSettings.MODEL,
                  model.toString(),
                  ConsumerSettings.ID,
                  "c1",
                  ConsumerSettings.METRICS_PORT,
                  "-1",
                  // hear of the rebalance within 0.1 s, not the default 3 s
                  ConsumerSettings.KAFKA_PREFIX + "heartbeat.interval.ms",
                  "100"));
      SimpleMeterRegistry meters = new SimpleMeterRegistry();
      AtomicReference<Throwable> failed = new AtomicReference<>();
      AtomicBoolean intruding = new AtomicBoolean(true);
      EngineConfig ec = EngineConfig.defaults().withKvBlocks(64).withStep(64, 2);
      try (InferenceConsumer consumer = new InferenceConsumer(settings, ec, meters)) {
        Thread serving =
            Thread.ofPlatform()
                .name("consumer")
                .start(
                    () -> {
                      try {
                        consumer.run();
                      } catch (Throwable t) {
                        failed.set(t);
                      }
                    });
        Thread intruder = null;
        try {
          sendBatches(broker.bootstrapServers());
          waitUntil(() -> gauge(meters, "lorastream.engine.running") == 2, "both partitions run");
          assertEquals(0.0, counter(meters, "lorastream.consumer.revoked.cancels"));

          // a second member of the group: the rebalance takes one partition (or, eager, both and
          // gives one back) from the inference consumer
          intruder = Thread.ofPlatform().name("intruder").start(() -> intrude(settings, intruding));
          waitUntil(
              () -> counter(meters, "lorastream.consumer.revoked.cancels") > 0,
              "a revocation cancelled requests");
          double revokedCancels = counter(meters, "lorastream.consumer.revoked.cancels");
          // every cancel reaches the engine; one may find its request just finished
          waitUntil(
              () ->
                  counter(meters, "lorastream.engine.cancelled")
                          + counter(meters, "lorastream.engine.cancels.ignored")
                      == revokedCancels,
              "the engine applied the cancels");
          assertTrue(counter(meters, "lorastream.engine.cancelled") >= revokedCancels - 1);
          assertTrue(
              revokedCancels >= ROWS / 2,
              "the revoked partition's unfinished requests: " + revokedCancels);
          assertEquals(
              0.0,
              counter(meters, "lorastream.consumer.requests", "code", "CANCELLED"),
              "a cancelled request is never answered: its partition's new owner answers it");
        } finally {
          consumer.stop();
          serving.join(10_000);
          intruding.set(false);
          if (intruder != null) {
            intruder.join(10_000);
          }
        }
        assertNull(failed.get(), () -> "consumer failed: " + failed.get());
      }
    } finally {
      MockSchemaRegistry.dropScope(SCOPE);
    }
  }

  /** One batch of {@link #ROWS} long requests on each of the two partitions. */
  private static void sendBatches(String bootstrap) throws Exception {
    try (KafkaProducer<String, InferenceBatch> p =
        new KafkaProducer<>(
            Map.of("bootstrap.servers", bootstrap),
            new StringSerializer(),
            Topics.BATCHES.valueSerde(SERDE).serializer())) {
      for (int partition = 0; partition < 2; partition++) {
        List<InferenceRequest> rows = new ArrayList<>();
        for (int r = 0; r < ROWS; r++) {
          rows.add(
              InferenceRequest.newBuilder()
                  .setRequestId("p" + partition + "-r" + r)
                  .setTenantId("t1")
                  .setPromptTokenIds(List.of(1, 40 + r, 50))
                  .setSampling(SamplingParams.newBuilder().setMaxTokens(MAX_TOKENS).build())
                  .setCreatedEpochMs(System.currentTimeMillis())
                  .build());
        }
        InferenceBatch b =
            InferenceBatch.newBuilder()
                .setBatchId("b" + partition)
                .setCreatedEpochMs(System.currentTimeMillis())
                .setRequests(rows)
                .build();
        p.send(new ProducerRecord<>(Topics.BATCHES.name(), partition, "b" + partition, b)).get();
      }
    }
  }

  /** Joins the inference consumer's group and polls (reading nothing it commits) until told. */
  private static void intrude(ConsumerSettings settings, AtomicBoolean intruding) {
    try (KafkaConsumer<byte[], byte[]> c =
        new KafkaConsumer<>(
            Map.of(
                "bootstrap.servers",
                settings.bootstrapServers(),
                "group.id",
                settings.groupId(),
                "enable.auto.commit",
                false),
            new ByteArrayDeserializer(),
            new ByteArrayDeserializer())) {
      c.subscribe(Set.of(Topics.BATCHES.name()));
      while (intruding.get()) {
        c.poll(Duration.ofMillis(100));
      }
    }
  }

  private static double gauge(SimpleMeterRegistry m, String name) {
    var g = m.find(name).gauge();
    return g == null ? Double.NaN : g.value();
  }

  private static double counter(SimpleMeterRegistry m, String name, String... tags) {
    double sum = 0;
    for (var c : m.find(name).tags(tags).functionCounters()) {
      sum += c.count();
    }
    for (var c : m.find(name).tags(tags).counters()) {
      sum += c.count();
    }
    return sum;
  }

  private static void waitUntil(BooleanSupplier cond, String what) throws InterruptedException {
    long deadline = System.currentTimeMillis() + 60_000;
    while (!cond.getAsBoolean()) {
      assertTrue(System.currentTimeMillis() < deadline, "timed out waiting until " + what);
      Thread.sleep(20);
    }
  }
}
