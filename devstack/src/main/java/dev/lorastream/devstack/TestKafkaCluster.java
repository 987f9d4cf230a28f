package dev.lorastream.devstack;

import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.test.KafkaClusterTestKit;
import org.apache.kafka.common.test.TestKitNodes;

/**
 * A real single-node KRaft broker for tests: Kafka's own {@code KafkaClusterTestKit} with the
 * mandatory single-node settings of {@link EmbeddedKafka}. Tests add {@code
 * kafka-test-common-runtime} (test scope); devstack declares it optional so the demo's runtime does
 * not carry it.
 */
public final class TestKafkaCluster implements AutoCloseable {
  private final KafkaClusterTestKit cluster;

  private TestKafkaCluster(KafkaClusterTestKit cluster) {
    this.cluster = cluster;
  }

  /** Formats and starts a broker on a random port and waits until it is ready (3-5 s). */
  public static TestKafkaCluster start() throws Exception {
    KafkaClusterTestKit.Builder b =
        new KafkaClusterTestKit.Builder(
            new TestKitNodes.Builder()
                .setCombined(true)
                .setNumBrokerNodes(1)
                .setNumControllerNodes(1)
                .build());
    for (var e : EmbeddedKafka.SINGLE_NODE.entrySet()) {
      b.setConfigProp(e.getKey(), e.getValue());
    }
    KafkaClusterTestKit c = b.build();
    c.format();
    c.startup();
    c.waitForReadyBrokers();
    return new TestKafkaCluster(c);
  }

  public String bootstrapServers() {
    return cluster.bootstrapServers();
  }

  /** An admin client for this broker; the caller closes it. */
  public Admin admin() {
    return Admin.create(Map.of("bootstrap.servers", bootstrapServers()));
  }

  /** Creates a topic and waits until it exists. */
  public void createTopic(String name, int partitions, Map<String, String> configs)
      throws Exception {
    try (Admin admin = admin()) {
      admin
          .createTopics(List.of(new NewTopic(name, partitions, (short) 1).configs(configs)))
          .all()
          .get(30, TimeUnit.SECONDS);
    }
  }

  @Override
  public void close() throws Exception {
    cluster.close();
  }
}
