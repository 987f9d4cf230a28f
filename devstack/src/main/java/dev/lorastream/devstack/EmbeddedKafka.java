package dev.lorastream.devstack;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.Map;
import java.util.Properties;
import java.util.stream.Stream;
import kafka.server.KafkaConfig;
import kafka.server.KafkaRaftServer;
import kafka.tools.StorageTool;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.utils.Time;

/**
 * A real single-node Kafka broker (KRaft, combined broker + controller) inside this JVM, for the
 * embedded demo. Uses Kafka's own server classes the way {@code kafka-storage.sh format} and {@code
 * kafka-server-start.sh} do; those are internal APIs with no compatibility promise, which is why
 * they are kept behind this one class. Tests use {@code KafkaClusterTestKit} instead.
 */
public final class EmbeddedKafka implements AutoCloseable {
  private final KafkaRaftServer server;
  private final Path dataDir;
  private final boolean deleteOnClose;
  private final String bootstrap;

  private EmbeddedKafka(
      KafkaRaftServer server, Path dataDir, boolean deleteOnClose, String bootstrap) {
    this.server = server;
    this.dataDir = dataDir;
    this.deleteOnClose = deleteOnClose;
    this.bootstrap = bootstrap;
  }

  /** Starts a broker on a free port with its data in a fresh temporary folder, deleted on close. */
  public static EmbeddedKafka start() {
    try {
      return start(Files.createTempDirectory("lorastream-kafka"), freePort(), true);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * Formats {@code dataDir} (when new) and starts a broker listening on {@code localhost:port}.
   *
   * @throws IllegalStateException when it cannot start (e.g. the port is taken), with the reason
   */
  public static EmbeddedKafka start(Path dataDir, int port, boolean deleteOnClose) {
    return start(dataDir, port, freePort(), deleteOnClose);
  }

  /**
   * Like {@link #start(Path, int, boolean)} with a given controller port: a broker restarted on an
   * existing {@code dataDir} needs the same one, since formatting records the controller's endpoint
   * in the log.
   */
  public static EmbeddedKafka start(
      Path dataDir, int port, int controllerPort, boolean deleteOnClose) {
    Properties p = new Properties();
    p.putAll(settings(dataDir, port, controllerPort));
    try {
      Files.createDirectories(dataDir);
      if (!Files.exists(dataDir.resolve("meta.properties"))) {
        Path cfg = dataDir.resolveSibling(dataDir.getFileName() + ".properties");
        try (var w = Files.newBufferedWriter(cfg)) {
          p.store(w, "lorastream embedded broker");
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int rc =
            StorageTool.execute(
                new String[] {
                  "format", "--standalone", "-t", Uuid.randomUuid().toString(), "-c", cfg.toString()
                },
                new PrintStream(out, true, StandardCharsets.UTF_8));
        if (rc != 0) {
          throw new IllegalStateException(
              "formatting " + dataDir + " failed: " + out.toString(StandardCharsets.UTF_8));
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    KafkaRaftServer server = new KafkaRaftServer(new KafkaConfig(p, false), Time.SYSTEM);
    try {
      server.startup();
    } catch (RuntimeException e) {
      server.shutdown(); // controller threads would keep the JVM alive
      throw new IllegalStateException(
          "the embedded Kafka broker could not start on port " + port + ": " + e.getMessage(), e);
    }
    return new EmbeddedKafka(server, dataDir, deleteOnClose, "localhost:" + port);
  }

  /**
   * The mandatory single-node settings: without them transactions and group joins hang; the delay
   * and buffer settings save 3 s per new group and 130 MiB of heap.
   */
  public static final Map<String, String> SINGLE_NODE =
      Map.of(
          "offsets.topic.replication.factor", "1",
          "offsets.topic.num.partitions", "4",
          "transaction.state.log.replication.factor", "1",
          "transaction.state.log.min.isr", "1",
          "transaction.state.log.num.partitions", "4",
          "share.coordinator.state.topic.replication.factor", "1",
          "share.coordinator.state.topic.min.isr", "1",
          "group.initial.rebalance.delay.ms", "0",
          "log.cleaner.dedupe.buffer.size", "2097152");

  static Map<String, String> settings(Path dataDir, int port, int controllerPort) {
    Map<String, String> m = new java.util.HashMap<>(SINGLE_NODE);
    m.putAll(
        Map.ofEntries(
            Map.entry("process.roles", "broker,controller"),
            Map.entry("node.id", "1"),
            Map.entry("controller.quorum.bootstrap.servers", "localhost:" + controllerPort),
            Map.entry(
                "listeners",
                "PLAINTEXT://localhost:" + port + ",CONTROLLER://localhost:" + controllerPort),
            Map.entry("advertised.listeners", "PLAINTEXT://localhost:" + port),
            Map.entry("controller.listener.names", "CONTROLLER"),
            Map.entry("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"),
            Map.entry("inter.broker.listener.name", "PLAINTEXT"),
            Map.entry("log.dirs", dataDir.toAbsolutePath().toString()),
            Map.entry("num.partitions", "1"),
            // A node restarted after SIGKILL registers again with a new incarnation; the controller
            // refuses that while the old registration's session lasts (default 9 s), which made a
            // restart take 13 s instead of 4. One node on loopback can afford short sessions.
            Map.entry("broker.session.timeout.ms", "2000"),
            Map.entry("broker.heartbeat.interval.ms", "500"),
            Map.entry("auto.create.topics.enable", "false")));
    return m;
  }

  public String bootstrapServers() {
    return bootstrap;
  }

  @Override
  public void close() {
    server.shutdown();
    server.awaitShutdown();
    if (deleteOnClose) {
      deleteTree(dataDir);
    }
  }

  public static int freePort() {
    try (ServerSocket s = new ServerSocket(0)) {
      s.setReuseAddress(true);
      return s.getLocalPort();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static void deleteTree(Path dir) {
    try (Stream<Path> walk = Files.walk(dir)) {
      walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (IOException e) {
      // best effort: a temp folder left behind is harmless
    }
    dir.resolveSibling(dir.getFileName() + ".properties").toFile().delete();
  }
}
