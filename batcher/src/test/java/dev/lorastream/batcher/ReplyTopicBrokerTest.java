package dev.lorastream.batcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.devstack.EmbeddedKafka;
import dev.lorastream.schemas.AdminReplyTopics;
import dev.lorastream.schemas.ErrorCode;
import dev.lorastream.schemas.InferenceBatch;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.ReplyTopics;
import dev.lorastream.schemas.Topic;
import dev.lorastream.schemas.Topics;
import dev.lorastream.schemas.registry.MockSchemaRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.test.KafkaClusterTestKit;
import org.apache.kafka.common.test.TestKitNodes;
import org.apache.kafka.streams.KafkaStreams;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A replyTopic that the tenant may use but that does not exist, on a real broker with
 * exactly_once_v2 and, as in docker-compose and the embedded demo, {@code
 * auto.create.topics.enable=false}. Before the fix the batcher's write to it failed in the
 * producer, the transaction aborted and the stream thread died, on every retry of that request:
 * nothing after it was ever answered.
 */
class ReplyTopicBrokerTest {

  static final String SCOPE = "batcher-reply-topic-test";
  static final Map<String, Object> SERDE =
      Map.of("schema.registry.url", MockSchemaRegistry.URL_PREFIX + SCOPE);
  static final String ACME = "lora.replies.acme";
  static KafkaClusterTestKit cluster;

  @BeforeAll
  static void startBroker() throws Exception {
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
    cluster = builder.build();
    cluster.format();
    cluster.startup();
    cluster.waitForReadyBrokers();
    try (Admin admin = admin()) {
      Harness.createTopics(admin, 1);
    }
  }

  @AfterAll
  static void stopBroker() throws Exception {
    if (cluster != null) {
      cluster.close();
    }
    MockSchemaRegistry.dropScope(SCOPE);
  }

  static Admin admin() {
    return Admin.create(Map.of("bootstrap.servers", cluster.bootstrapServers()));
  }

  @Test
  void missingReplyTopicGetsAnErrorReplyAndTheBatcherKeepsServing(@TempDir Path dir)
      throws Exception {
    BatcherConfig config =
        BatcherConfig.defaults()
            .with(
                Map.of(
                    "bootstrap.servers",
                    cluster.bootstrapServers(),
                    "schema.registry.url",
                    (String) SERDE.get("schema.registry.url"),
                    "state.dir",
                    dir.toString(),
                    "replication.factor",
                    "1",
                    "commit.interval.ms",
                    "50",
                    // Were a write to a missing topic attempted, fail it in 5 s (default 60 s) so
                    // the test shows it.
                    "producer.max.block.ms",
                    "5000",
                    BatcherConfig.MAX_BATCH_REQUESTS,
                    "1",
                    BatcherConfig.METRICS_PORT,
                    "-1"));
    Map<String, Object> producerProps = new HashMap<>(SERDE);
    producerProps.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, cluster.bootstrapServers());
    try (var adapters =
            new KafkaProducer<>(
                producerProps,
                Serdes.String().serializer(),
                Topics.ADAPTERS.valueSerde(SERDE).serializer());
        var requests =
            new KafkaProducer<>(
                producerProps,
                Serdes.String().serializer(),
                Topics.REQUESTS.valueSerde(SERDE).serializer());
        BatcherApp app = BatcherApp.start(config)) {
      adapters
          .send(
              new ProducerRecord<>(
                  Topics.ADAPTERS.name(), "sql", Harness.registration("sql", "acme")))
          .get();
      assertTrue(app.awaitRunning(Duration.ofSeconds(60)), "state " + app.state());
      List<InferenceRequest> sent =
          List.of(
              replyingTo(
                  ACME, Harness.request("lost-rejected", "nope")), // its error would go to ACME
              replyingTo(
                  ACME, Harness.request("lost-accepted", "sql")), // its result would go to ACME
              Harness.request("good", "sql"));
      for (InferenceRequest r : sent) {
        requests.send(new ProducerRecord<>(Topics.REQUESTS.name(), r.getRequestId(), r)).get();
      }

      Map<String, InferenceResult> errors = readCommitted(Topics.REPLIES, 2);
      assertEquals(List.of("lost-rejected", "lost-accepted"), List.copyOf(errors.keySet()));
      for (InferenceResult e : errors.values()) {
        assertEquals(ErrorCode.INVALID_PARAMS, e.getErrorCode());
        assertTrue(
            e.getErrorMessage()
                .startsWith(
                    "replyTopic 'lora.replies.acme' does not exist on the Kafka" + " cluster"),
            e.getErrorMessage());
      }
      InferenceBatch batch = readCommitted(Topics.BATCHES, 1).values().iterator().next();
      assertEquals(
          "good",
          batch.getRequests().getFirst().getRequestId(),
          "the next request is still served");
      assertEquals(KafkaStreams.State.RUNNING, app.state());

      try (Admin admin = admin()) {
        admin.createTopics(List.of(new NewTopic(ACME, 1, (short) 1))).all().get();
      }
      Thread.sleep(config.replyTopicRecheckMs() + 100); // the "missing" answer expires
      InferenceRequest late = replyingTo(ACME, Harness.request("late", "nope"));
      requests.send(new ProducerRecord<>(Topics.REQUESTS.name(), "late", late)).get();
      Topic<String, InferenceResult> acme = Topics.REPLIES.withName(ACME);
      assertEquals(ErrorCode.UNKNOWN_ADAPTER, readCommitted(acme, 1).get("late").getErrorCode());
    }
  }

  @Test
  void adminReplyTopicsAsksTheCluster() {
    try (var topics = new AdminReplyTopics(admin(), cluster.bootstrapServers())) {
      assertEquals(ReplyTopics.State.EXISTS, topics.state(Topics.REPLIES.name()));
      assertEquals(ReplyTopics.State.MISSING, topics.state("lora.replies.nobody"));
      assertEquals(ReplyTopics.State.INVALID_NAME, topics.state("lora.replies.a b"));
    }
  }

  private static InferenceRequest replyingTo(String topic, InferenceRequest r) {
    return InferenceRequest.newBuilder(r).setReplyTopic(topic).build();
  }

  /**
   * The first {@code n} records of partition 0, read_committed, by key in offset order (20 s at
   * most).
   */
  private static <V extends SpecificRecord> Map<String, V> readCommitted(
      Topic<String, V> topic, int n) {
    Map<String, Object> props = new HashMap<>(SERDE);
    props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, cluster.bootstrapServers());
    props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    Map<String, V> out = new LinkedHashMap<>();
    try (var consumer =
        new KafkaConsumer<>(
            props, Serdes.String().deserializer(), topic.valueSerde(SERDE).deserializer())) {
      TopicPartition p0 = new TopicPartition(topic.name(), 0);
      consumer.assign(List.of(p0));
      consumer.seekToBeginning(List.of(p0));
      long deadline = System.currentTimeMillis() + 20_000;
      while (out.size() < n && System.currentTimeMillis() < deadline) {
        consumer.poll(Duration.ofMillis(200)).forEach(r -> out.put(r.key(), r.value()));
      }
    }
    assertEquals(n, out.size(), "records on " + topic.name() + ": " + out.keySet());
    return out;
  }
}
