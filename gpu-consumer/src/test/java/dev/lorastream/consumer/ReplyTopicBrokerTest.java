package dev.lorastream.consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.devstack.EmbeddedKafka;
import dev.lorastream.engine.sched.EngineConfig;
import dev.lorastream.engine.testdata.ModelGenerator;
import dev.lorastream.schemas.ErrorCode;
import dev.lorastream.schemas.InferenceBatch;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;
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
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.common.test.KafkaClusterTestKit;
import org.apache.kafka.common.test.TestKitNodes;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A finished result whose reply topic does not exist, on a real broker with {@code
 * auto.create.topics.enable=false} (as in docker-compose and the embedded demo), with the consumer
 * in this JVM on the tiny model. Before the fix the write to the missing topic poisoned the
 * transaction (after {@code max.block.ms}, 60 s), the consumer aborted, rewound and recomputed the
 * batch, forever: neither that batch's other results nor any later batch was ever committed.
 */
class ReplyTopicBrokerTest {
  static final String SCOPE = "consumer-reply-topic-test";
  static final Map<String, Object> SERDE =
      Map.of(AvroSerdeConfig.SCHEMA_REGISTRY_URL, MockSchemaRegistry.URL_PREFIX + SCOPE);
  static final String MISSING = "lora.replies.acme";
  static final String GLOBEX = "lora.replies.globex";

  @TempDir Path tmp;

  @Test
  void aMissingReplyTopicGetsAnErrorOnLoraRepliesAndTheConsumerKeepsServing() throws Exception {
    Path model = tmp.resolve("model");
    ModelGenerator.make("tiny", ModelGenerator.Options.defaults(), model);
    // TestKafkaCluster leaves auto-creation on, which would hide the defect: the producer would
    // create the topic.
    var builder =
        new KafkaClusterTestKit.Builder(
            new TestKitNodes.Builder()
                .setCombined(true)
                .setNumBrokerNodes(1)
                .setNumControllerNodes(1)
                .build());
    EmbeddedKafka.SINGLE_NODE.forEach(builder::setConfigProp);
    builder.setConfigProp("auto.create.topics.enable", "false");
    try (KafkaClusterTestKit cluster = builder.build()) {
      cluster.format();
      cluster.startup();
      cluster.waitForReadyBrokers();
      String bootstrap = cluster.bootstrapServers();
      try (Admin admin = Admin.create(Map.of("bootstrap.servers", bootstrap))) {
        List<NewTopic> topics = new ArrayList<>();
        for (Topic<?, ?> t : Topics.all()) {
          topics.add(new NewTopic(t.name(), 1, (short) 1).configs(t.topicConfigs()));
        }
        topics.add(new NewTopic(GLOBEX, 1, (short) 1));
        admin.createTopics(topics).all().get();
      }
      ConsumerSettings settings =
          ConsumerSettings.from(
              Map.of(
                  ConsumerSettings.BOOTSTRAP,
                  bootstrap,
                  ConsumerSettings.REGISTRY,
                  (String) SERDE.get(AvroSerdeConfig.SCHEMA_REGISTRY_URL),
                  ConsumerSettings.MODEL,
                  model.toString(),
                  ConsumerSettings.ID,
                  "c1",
                  ConsumerSettings.METRICS_PORT,
                  "-1"));
      SimpleMeterRegistry meters = new SimpleMeterRegistry();
      AtomicReference<Throwable> failed = new AtomicReference<>();
      try (InferenceConsumer consumer =
              new InferenceConsumer(settings, EngineConfig.defaults().withKvBlocks(32), meters);
          KafkaProducer<String, InferenceBatch> batches =
              new KafkaProducer<>(
                  Map.of("bootstrap.servers", bootstrap),
                  new StringSerializer(),
                  Topics.BATCHES.valueSerde(SERDE).serializer())) {
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
        try {
          send(
              batches,
              "b1",
              request("lost", MISSING),
              request("kept", "lora.replies"),
              request("delivered", GLOBEX));
          List<InferenceResult> replies = readCommitted(bootstrap, Topics.REPLIES.name(), 2);
          assertEquals(
              List.of("lost", "kept"),
              replies.stream().map(InferenceResult::getRequestId).toList());
          InferenceResult lost = replies.get(0);
          assertEquals(ErrorCode.INVALID_PARAMS, lost.getErrorCode());
          assertEquals("t1", lost.getTenantId());
          assertEquals("b1", lost.getBatchId());
          assertTrue(
              lost.getErrorMessage()
                  .startsWith(
                      "replyTopic 'lora.replies.acme' does not exist on the Kafka" + " cluster"),
              lost.getErrorMessage());
          assertNull(replies.get(1).getErrorCode(), replies.get(1).getErrorMessage());
          InferenceResult delivered = readCommitted(bootstrap, GLOBEX, 1).getFirst();
          assertNull(
              delivered.getErrorCode(), "an existing per-tenant topic still gets its result");

          send(batches, "b2", request("next", "lora.replies"));
          List<InferenceResult> all = readCommitted(bootstrap, Topics.REPLIES.name(), 3);
          assertEquals(
              List.of("lost", "kept", "next"),
              all.stream().map(InferenceResult::getRequestId).toList(),
              "the next batch is still answered, and nothing twice");
          assertNull(all.get(2).getErrorCode(), all.get(2).getErrorMessage());
          assertEquals(
              1.0,
              meters.counter("lorastream.consumer.replies.rerouted", "reason", "MISSING").count());
          assertEquals(0.0, meters.counter("lorastream.consumer.transactions.aborted").count());
          assertTrue(consumer.healthy(), "/health while the poll loop serves");
        } finally {
          consumer.stop();
          serving.join(10_000);
        }
        assertNull(failed.get(), () -> "consumer failed: " + failed.get());
        assertFalse(consumer.healthy(), "/health after the poll loop stopped");
      }
    } finally {
      MockSchemaRegistry.dropScope(SCOPE);
    }
  }

  private static void send(
      KafkaProducer<String, InferenceBatch> p, String batchId, InferenceRequest... requests)
      throws Exception {
    InferenceBatch b =
        InferenceBatch.newBuilder()
            .setBatchId(batchId)
            .setCreatedEpochMs(System.currentTimeMillis())
            .setRequests(List.of(requests))
            .build();
    p.send(new ProducerRecord<>(Topics.BATCHES.name(), batchId, b)).get();
  }

  private static InferenceRequest request(String id, String replyTopic) {
    return InferenceRequest.newBuilder()
        .setRequestId(id)
        .setTenantId("t1")
        .setPromptTokenIds(List.of(1, 40, 50))
        .setSampling(SamplingParams.newBuilder().setMaxTokens(3).build())
        .setReplyTopic(replyTopic)
        .setCreatedEpochMs(System.currentTimeMillis())
        .build();
  }

  /**
   * Every record of partition 0 of {@code topic}, read_committed, in offset order, once {@code n}
   * are there (30 s at most), plus whatever else arrives in the next 0.5 s (a duplicate would).
   */
  private static List<InferenceResult> readCommitted(String bootstrap, String topic, int n) {
    List<InferenceResult> out = new ArrayList<>();
    try (KafkaConsumer<String, InferenceResult> c =
        new KafkaConsumer<>(
            Map.of("bootstrap.servers", bootstrap, "isolation.level", "read_committed"),
            new StringDeserializer(),
            Topics.REPLIES.valueSerde(SERDE).deserializer())) {
      TopicPartition p0 = new TopicPartition(topic, 0);
      c.assign(List.of(p0));
      c.seekToBeginning(List.of(p0));
      long deadline = System.currentTimeMillis() + 30_000;
      while (out.size() < n && System.currentTimeMillis() < deadline) {
        c.poll(Duration.ofMillis(200))
            .forEach((ConsumerRecord<String, InferenceResult> r) -> out.add(r.value()));
      }
      c.poll(Duration.ofMillis(500)).forEach(r -> out.add(r.value()));
    }
    List<String> ids = out.stream().map(InferenceResult::getRequestId).toList();
    assertEquals(n, out.size(), "records on " + topic + ": " + ids);
    return out;
  }
}
