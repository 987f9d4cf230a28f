package dev.lorastream.batcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.devstack.TestKafkaCluster;
import dev.lorastream.schemas.ConsumerResidency;
import dev.lorastream.schemas.InferenceBatch;
import dev.lorastream.schemas.Topics;
import dev.lorastream.schemas.registry.MockSchemaRegistry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
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
import org.apache.kafka.common.serialization.Serdes;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The batcher routes by what the consumers publish on {@code lora.residency}, on a real broker: a
 * batch goes to the partition of the consumer that holds its adapter, back home once that
 * consumer's tombstone is read, and an undecodable or stale record changes nothing.
 */
class ResidencyRoutingBrokerTest {

  static final String SCOPE = "residency-routing-test";
  static final Map<String, Object> SERDE = Map.of("schema.registry.url", "mock://" + SCOPE);
  static final int PARTITIONS = 4;
  static TestKafkaCluster cluster;

  @BeforeAll
  static void startBroker() throws Exception {
    cluster = TestKafkaCluster.start();
    try (Admin admin = cluster.admin()) {
      Harness.createTopics(admin, PARTITIONS);
    }
  }

  @AfterAll
  static void stopBroker() throws Exception {
    if (cluster != null) {
      cluster.close();
    }
    MockSchemaRegistry.dropScope(SCOPE);
  }

  private static BatcherConfig config(Path stateDir) {
    return BatcherConfig.defaults()
        .with(
            Map.of(
                "bootstrap.servers",
                cluster.bootstrapServers(),
                "schema.registry.url",
                "mock://" + SCOPE,
                "state.dir",
                stateDir.toString(),
                "replication.factor",
                "1",
                "commit.interval.ms",
                "50",
                BatcherConfig.MAX_BATCH_REQUESTS,
                "2",
                BatcherConfig.AFFINITY_SPREAD,
                "1", // every batch of sql at slot 0, where residency applies
                BatcherConfig.MAX_WAIT_MS,
                "10000",
                BatcherConfig.METRICS_PORT,
                "-1"));
  }

  private static ConsumerResidency holding(String consumer, int partition, long publishedMs) {
    return ConsumerResidency.newBuilder()
        .setConsumerId(consumer)
        .setBatchPartitions(List.of(partition))
        .setBackendAdapters(List.of("sql"))
        .setHostAdapters(List.of())
        .setPublishedEpochMs(publishedMs)
        .build();
  }

  @Test
  void batchesFollowTheConsumerThatHoldsTheirAdapter(@TempDir Path dir) throws Exception {
    int home = AffinityPartitioner.partition("sql", 0, PARTITIONS);
    int held = (home + 2) % PARTITIONS;
    Map<String, Object> producerProps = new HashMap<>(SERDE);
    producerProps.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, cluster.bootstrapServers());
    Map<String, Object> consumerProps = new HashMap<>(SERDE);
    consumerProps.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, cluster.bootstrapServers());
    consumerProps.put(ConsumerConfig.GROUP_ID_CONFIG, "check-batches");
    consumerProps.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    consumerProps.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    try (var adapters =
            new KafkaProducer<>(
                producerProps,
                Serdes.String().serializer(),
                Topics.ADAPTERS.valueSerde(SERDE).serializer());
        var residency =
            new KafkaProducer<>(
                producerProps,
                Serdes.String().serializer(),
                Topics.RESIDENCY.valueSerde(SERDE).serializer());
        var raw =
            new KafkaProducer<>(
                producerProps, Serdes.String().serializer(), Serdes.ByteArray().serializer());
        var requests =
            new KafkaProducer<>(
                producerProps,
                Serdes.String().serializer(),
                Topics.REQUESTS.valueSerde(SERDE).serializer());
        var batches =
            new KafkaConsumer<>(
                consumerProps,
                Serdes.String().deserializer(),
                Topics.BATCHES.valueSerde(SERDE).deserializer())) {
      adapters
          .send(
              new ProducerRecord<>(
                  Topics.ADAPTERS.name(), "sql", Harness.registration("sql", "acme")))
          .get();
      long now = System.currentTimeMillis();
      raw.send(
              new ProducerRecord<>(
                  Topics.RESIDENCY.name(), "junk", "not avro".getBytes(StandardCharsets.UTF_8)))
          .get();
      // a consumer that died an hour ago without its tombstone: ignored
      residency
          .send(
              new ProducerRecord<>(
                  Topics.RESIDENCY.name(),
                  "gpu-dead",
                  holding("gpu-dead", (home + 1) % PARTITIONS, now - 3_600_000)))
          .get();
      residency
          .send(
              new ProducerRecord<>(
                  Topics.RESIDENCY.name(), "gpu-b", holding("gpu-b", held, now + 60_000)))
          .get();
      batches.subscribe(List.of(Topics.BATCHES.name()));
      try (BatcherApp app = BatcherApp.start(config(dir))) {
        assertTrue(app.awaitRunning(Duration.ofSeconds(60)), "state " + app.state());
        awaitCount(app, "read", 2);
        awaitCount(app, "undecodable", 1);

        send(requests, "r1", "r2");
        ConsumerRecord<String, InferenceBatch> first = next(batches);
        assertEquals("sql", first.value().getAffinityKey());
        assertEquals(held, first.partition(), "the partition of the consumer that holds sql");
        assertEquals(1.0, app.registry().get(BatcherMetrics.BATCH_RESIDENCY).counter().count());

        residency.send(new ProducerRecord<>(Topics.RESIDENCY.name(), "gpu-b", null)).get();
        awaitCount(app, "tombstone", 1);
        send(requests, "r3", "r4");
        ConsumerRecord<String, InferenceBatch> second = next(batches);
        assertEquals(home, second.partition(), "nobody holds sql now: its home partition");
        assertEquals(1.0, app.registry().get(BatcherMetrics.BATCH_RESIDENCY).counter().count());
      }
    }
  }

  private static void send(
      KafkaProducer<String, dev.lorastream.schemas.InferenceRequest> requests, String... ids)
      throws Exception {
    for (String id : ids) {
      requests
          .send(new ProducerRecord<>(Topics.REQUESTS.name(), id, Harness.request(id, "sql")))
          .get();
    }
  }

  private static void awaitCount(BatcherApp app, String outcome, double n) throws Exception {
    long deadline = System.currentTimeMillis() + 30_000;
    double seen = 0;
    while (System.currentTimeMillis() < deadline) {
      var c =
          app.registry().find(BatcherMetrics.RESIDENCY_RECORDS).tag("outcome", outcome).counter();
      seen = c == null ? 0 : c.count();
      if (seen >= n) {
        return;
      }
      Thread.sleep(50);
    }
    assertEquals(n, seen, "lora.residency records read with outcome " + outcome);
  }

  private final ArrayDeque<ConsumerRecord<String, InferenceBatch>> read = new ArrayDeque<>();

  private ConsumerRecord<String, InferenceBatch> next(
      KafkaConsumer<String, InferenceBatch> batches) {
    long deadline = System.currentTimeMillis() + 30_000;
    while (read.isEmpty() && System.currentTimeMillis() < deadline) {
      batches.poll(Duration.ofMillis(200)).forEach(read::add);
    }
    if (read.isEmpty()) {
      throw new AssertionError("no batch on " + Topics.BATCHES.name() + " within 30 s");
    }
    return read.poll();
  }
}
