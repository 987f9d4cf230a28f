package dev.lorastream.batcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.devstack.TestKafkaCluster;
import dev.lorastream.schemas.Topics;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A batcher whose stream thread fails at one record again and again (the schema registry cannot be
 * reached, so the record is retried, never dead-lettered), on a real broker: the failure policy
 * ends the loop, and {@code /health} reports the stall.
 */
class StalledStreamBrokerTest {

  static TestKafkaCluster cluster;
  static String deadRegistry;

  @BeforeAll
  static void startBroker() throws Exception {
    cluster = TestKafkaCluster.start();
    try (Admin admin = cluster.admin()) {
      Harness.createTopics(admin, 1);
    }
    try (ServerSocket socket = new ServerSocket(0)) {
      deadRegistry = "http://127.0.0.1:" + socket.getLocalPort(); // closed: nothing listens
    }
    try (var producer =
        new KafkaProducer<>(
            Map.<String, Object>of(
                ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, cluster.bootstrapServers()),
            Serdes.ByteArray().serializer(),
            Serdes.ByteArray().serializer())) {
      // schema id 1 in the Confluent header: decoding it needs the registry
      producer
          .send(
              new ProducerRecord<>(
                  Topics.REQUESTS.name(), "r1".getBytes(), new byte[] {0, 0, 0, 0, 1, 2, 'x'}))
          .get();
    }
  }

  @AfterAll
  static void stopBroker() throws Exception {
    if (cluster != null) {
      cluster.close();
    }
  }

  private static BatcherConfig config(Path stateDir, String appId, Map<String, String> more) {
    Map<String, String> keys = new java.util.HashMap<>(more);
    keys.putAll(
        Map.of(
            "bootstrap.servers",
            cluster.bootstrapServers(),
            "schema.registry.url",
            deadRegistry,
            "application.id",
            appId,
            "state.dir",
            stateDir.toString(),
            "replication.factor",
            "1",
            "commit.interval.ms",
            "50",
            "session.timeout.ms", // a replaced thread's new member waits for the old one's session
            "6000",
            BatcherConfig.METRICS_PORT,
            "0"));
    return BatcherConfig.defaults().with(keys);
  }

  private static HttpResponse<String> health(BatcherApp app) throws Exception {
    return HttpClient.newHttpClient()
        .send(
            HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + app.metricsPort() + "/health"))
                .build(),
            HttpResponse.BodyHandlers.ofString());
  }

  @Test
  @Timeout(60)
  void aRecordFailingAgainAndAgainShutsTheBatcherDown(@TempDir Path dir) throws Exception {
    BatcherConfig config =
        config(dir, "stall-shutdown", Map.of(BatcherConfig.THREAD_REPLACEMENTS_MAX, "1"));
    try (BatcherApp app = BatcherApp.start(config)) {
      String reason = app.failure().get(45, TimeUnit.SECONDS);
      assertTrue(
          reason.startsWith(
              "Kafka Streams failed: the stream thread failed 2 times in a row at"
                  + " lora.requests-0@0 (at most 1 replacements for one record): "),
          reason);
      assertEquals(KafkaStreams.State.ERROR, app.state());
      HttpResponse<String> down = health(app);
      assertEquals(503, down.statusCode());
      assertEquals("DOWN (Kafka Streams is ERROR)\n", down.body());
    }
  }

  @Test
  @Timeout(60)
  void healthIsDownWhileTheStreamMakesNoProgress(@TempDir Path dir) throws Exception {
    BatcherConfig config =
        config(
            dir,
            "stall-health",
            Map.of(
                BatcherConfig.THREAD_REPLACEMENTS_MAX,
                "1000",
                BatcherConfig.HEALTH_STALL_MS,
                "3000"));
    try (BatcherApp app = BatcherApp.start(config)) {
      long deadline = System.nanoTime() + Duration.ofSeconds(45).toNanos();
      HttpResponse<String> status = health(app);
      while (status.statusCode() == 200 && System.nanoTime() < deadline) {
        Thread.sleep(200);
        status = health(app);
      }
      assertEquals(503, status.statusCode(), "state " + app.state());
      assertTrue(
          status.body().startsWith("DOWN (no progress for ")
              && status
                  .body()
                  .endsWith(
                      " ms with input pending (lora.requests-0: 1 records behind);"
                          + " batcher.health.stall.ms=3000)\n"),
          status.body());
      assertTrue(app.state().isRunningOrRebalancing(), "replaced, not shut down: " + app.state());
    }
  }
}
