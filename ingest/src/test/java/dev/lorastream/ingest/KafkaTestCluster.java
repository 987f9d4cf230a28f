package dev.lorastream.ingest;

import dev.lorastream.devstack.TestKafkaCluster;
import dev.lorastream.schemas.Topics;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;

/**
 * Test fixture: one single-node KRaft broker (KafkaClusterTestKit) shared by every Kafka test of
 * this module in the surefire JVM, started on first use (3-5 s) and closed by {@link
 * SharedBrokerSession} when the test run ends. Tests isolate themselves by reply topic and by
 * reading {@code lora.requests} from its end.
 *
 * <p>Not closed by a JVM shutdown hook: the test kit's log directories are deleted by Kafka's own
 * shutdown hook ({@code TestUtils.tempDirectory}), and hooks run at once, so a broker still running
 * then may see its log directory vanish and halt the JVM with status 1 after every test passed
 * (surefire: "Error occurred in starting fork").
 */
public final class KafkaTestCluster {
  public static final String REGISTRY_URL = "mock://ingest-tests";
  private static TestKafkaCluster cluster;

  private KafkaTestCluster() {}

  /** Bootstrap servers of the shared broker, with {@code lora.requests} (3 partitions) created. */
  public static synchronized String bootstrap() {
    if (cluster == null) {
      try {
        cluster = TestKafkaCluster.start();
        createTopic(Topics.REQUESTS.name(), 3);
      } catch (Exception e) {
        throw new IllegalStateException("cannot start the test broker", e);
      }
    }
    return cluster.bootstrapServers();
  }

  /** Closes the shared broker if a test started it; the next {@link #bootstrap} starts another. */
  static synchronized void close() throws Exception {
    if (cluster != null) {
      TestKafkaCluster c = cluster;
      cluster = null;
      c.close();
    }
  }

  /** Creates a topic on the shared broker (waits until it exists). */
  public static void createTopic(String name, int partitions) {
    try (Admin admin = Admin.create(Map.of("bootstrap.servers", bootstrap()))) {
      admin
          .createTopics(List.of(new NewTopic(name, partitions, (short) 1)))
          .all()
          .get(30, TimeUnit.SECONDS);
    } catch (Exception e) {
      throw new IllegalStateException("cannot create topic " + name, e);
    }
  }
}
