package dev.lorastream.batcher;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.devstack.TestKafkaCluster;
import dev.lorastream.schemas.DlqHeaders;
import dev.lorastream.schemas.ErrorCode;
import dev.lorastream.schemas.InferenceBatch;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.Topic;
import dev.lorastream.schemas.Topics;
import dev.lorastream.schemas.registry.MockSchemaRegistry;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.Serdes;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link BatcherApp} on a real single-node KRaft broker, exactly_once_v2, read back with
 * read_committed.
 */
class BatcherAppBrokerTest {

  static final String REGISTRY = "mock://batcher-broker-test";
  static final Map<String, Object> SERDE = Map.of("schema.registry.url", REGISTRY);
  static TestKafkaCluster cluster;

  @BeforeAll
  static void startBroker() throws Exception {
    cluster = TestKafkaCluster.start();
  }

  @AfterAll
  static void stopBroker() throws Exception {
    if (cluster != null) {
      cluster.close();
    }
    MockSchemaRegistry.dropScope("batcher-broker-test");
  }

  private static BatcherConfig config(Path stateDir) {
    return BatcherConfig.defaults()
        .with(
            Map.of(
                "bootstrap.servers",
                cluster.bootstrapServers(),
                "schema.registry.url",
                REGISTRY,
                "state.dir",
                stateDir.toString(),
                "replication.factor",
                "1",
                "commit.interval.ms",
                "50",
                BatcherConfig.MAX_BATCH_REQUESTS,
                "2", // the batch closes on count, whatever the poll timing
                BatcherConfig.MAX_WAIT_MS,
                "10000",
                BatcherConfig.BATCHES_PARTITIONS,
                "4",
                BatcherConfig.METRICS_PORT,
                "0"));
  }

  @Test
  void formsBatchesAndRepliesWithExactlyOnce(@TempDir Path dir) throws Exception {
    // Missing topics: a clear refusal, nothing created.
    var missing = assertThrows(IllegalStateException.class, () -> BatcherApp.start(config(dir)));
    assertTrue(
        missing
            .getMessage()
            .startsWith("the batcher needs topics that do not exist: [lora.requests"),
        missing.getMessage());

    try (Admin admin = cluster.admin()) {
      Harness.createTopics(admin, 4);
    }
    Map<String, Object> producerProps = new HashMap<>(SERDE);
    producerProps.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, cluster.bootstrapServers());
    byte[] undecodable = "{\"adapterId\":\"broken\"}".getBytes(StandardCharsets.UTF_8);
    try (var raw =
        new KafkaProducer<>(
            producerProps, Serdes.String().serializer(), Serdes.ByteArray().serializer())) {
      // before the valid registration: neither the batcher nor the DLQ writer may stop on it
      raw.send(new ProducerRecord<>(Topics.ADAPTERS.name(), "broken", undecodable)).get();
    }
    try (var adapters =
            new KafkaProducer<>(
                producerProps,
                Serdes.String().serializer(),
                Topics.ADAPTERS.valueSerde(SERDE).serializer());
        var requests =
            new KafkaProducer<>(
                producerProps,
                Serdes.String().serializer(),
                Topics.REQUESTS.valueSerde(SERDE).serializer())) {
      adapters
          .send(
              new ProducerRecord<>(
                  Topics.ADAPTERS.name(), "sql", Harness.registration("sql", "acme")))
          .get();
      try (BatcherApp app = BatcherApp.start(config(dir))) {
        assertTrue(app.awaitRunning(Duration.ofSeconds(60)), "state " + app.state());
        for (String id : List.of("r1", "r2")) {
          requests
              .send(new ProducerRecord<>(Topics.REQUESTS.name(), id, Harness.request(id, "sql")))
              .get();
        }
        requests
            .send(new ProducerRecord<>(Topics.REQUESTS.name(), "r3", Harness.request("r3", "nope")))
            .get();

        List<ConsumerRecord<String, InferenceBatch>> batches = readCommitted(Topics.BATCHES, 1);
        InferenceBatch b = batches.getFirst().value();
        assertEquals(
            List.of("r1", "r2"),
            b.getRequests().stream().map(InferenceRequest::getRequestId).toList());
        assertEquals("sql", b.getAffinityKey());
        assertEquals(dev.lorastream.schemas.FlushReason.MAX_REQUESTS, b.getFlushReason());
        assertEquals(AffinityPartitioner.partition("sql", 0, 4), batches.getFirst().partition());

        InferenceResult reply = readCommitted(Topics.REPLIES, 1).getFirst().value();
        assertEquals(ErrorCode.UNKNOWN_ADAPTER, reply.getErrorCode());

        String scrape =
            HttpClient.newHttpClient()
                .send(
                    HttpRequest.newBuilder(
                            URI.create("http://127.0.0.1:" + app.metricsPort() + "/metrics"))
                        .build(),
                    HttpResponse.BodyHandlers.ofString())
                .body();
        assertTrue(
            scrape.contains(
                "lorastream_batcher_requests_total{code=\"none\",outcome=\"accepted\",service=\"batcher\"} 2.0"),
            scrape);
        assertTrue(scrape.contains("kafka_stream_thread_"), "Kafka Streams binder");
        assertTrue(
            scrape.contains(
                "lorastream_batcher_adapters_skipped_total{reason=\"BAD_MAGIC\",service=\"batcher\"} 1.0"),
            scrape);
        ConsumerRecord<byte[], byte[]> dead = readAdaptersDlq().getFirst();
        assertArrayEquals(undecodable, dead.value());
        assertEquals(
            "BAD_MAGIC",
            new String(
                dead.headers().lastHeader(DlqHeaders.REASON).value(), StandardCharsets.UTF_8));
      }
      // A restart reads lora.adapters again: the record is still dead-lettered once.
      try (BatcherApp again = BatcherApp.start(config(dir))) {
        assertTrue(again.awaitRunning(Duration.ofSeconds(60)), "state " + again.state());
        Thread.sleep(2_000);
        assertEquals(1, readAdaptersDlq().size(), "the DLQ record is written once");
      }
    }
  }

  /** Every committed record of lora.adapters.dlq, once one is there (30 s at most), plus 1 s. */
  private static List<ConsumerRecord<byte[], byte[]>> readAdaptersDlq() {
    Map<String, Object> props = new HashMap<>();
    props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, cluster.bootstrapServers());
    props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    List<ConsumerRecord<byte[], byte[]>> out = new ArrayList<>();
    try (var consumer =
        new KafkaConsumer<>(
            props, Serdes.ByteArray().deserializer(), Serdes.ByteArray().deserializer())) {
      TopicPartition p0 = new TopicPartition(Topics.ADAPTERS_DLQ.name(), 0);
      consumer.assign(List.of(p0));
      consumer.seekToBeginning(List.of(p0));
      long deadline = System.currentTimeMillis() + 30_000;
      while (out.isEmpty() && System.currentTimeMillis() < deadline) {
        consumer.poll(Duration.ofMillis(200)).forEach(out::add);
      }
      consumer.poll(Duration.ofMillis(1_000)).forEach(out::add);
    }
    assertTrue(!out.isEmpty(), "nothing on " + Topics.ADAPTERS_DLQ.name());
    return out;
  }

  private static <V extends org.apache.avro.specific.SpecificRecord>
      List<ConsumerRecord<String, V>> readCommitted(Topic<String, V> topic, int n) {
    Map<String, Object> props = new HashMap<>(SERDE);
    props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, cluster.bootstrapServers());
    props.put(ConsumerConfig.GROUP_ID_CONFIG, "check-" + topic.name());
    props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    List<ConsumerRecord<String, V>> out = new ArrayList<>();
    try (var consumer =
        new KafkaConsumer<>(
            props, Serdes.String().deserializer(), topic.valueSerde(SERDE).deserializer())) {
      consumer.subscribe(List.of(topic.name()));
      long deadline = System.currentTimeMillis() + 30_000;
      while (out.size() < n && System.currentTimeMillis() < deadline) {
        consumer.poll(Duration.ofMillis(200)).forEach(out::add);
      }
    }
    assertEquals(n, out.size(), "records on " + topic.name());
    return out;
  }
}
