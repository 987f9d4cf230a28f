package dev.lorastream.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.lorastream.devstack.TestKafkaCluster;
import dev.lorastream.schemas.Topics;
import dev.lorastream.schemas.registry.MockSchemaRegistry;
import dev.lorastream.schemas.serde.AvroSerdeConfig;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import picocli.CommandLine;

/**
 * A broker (Kafka's test kit) with a one-partition {@code lora.adapters}, the {@code mock://}
 * registry of one scope, and {@code ./lorastream adapters} run against them with a fixed clock: the
 * fixture of the adapters command tests.
 */
final class AdaptersCli implements AutoCloseable {
  /** The registration time every {@code add} records. */
  static final Instant NOW = Instant.parse("2026-12-05T12:00:00Z");

  private static final TopicPartition P0 = new TopicPartition(Topics.ADAPTERS.name(), 0);

  private final TestKafkaCluster cluster;
  private final String scope;

  /** What one command did. */
  record Run(int code, String out, String err) {}

  private AdaptersCli(TestKafkaCluster cluster, String scope) {
    this.cluster = cluster;
    this.scope = scope;
  }

  /** Starts a broker and creates {@code lora.adapters} (compacted, one partition). */
  static AdaptersCli start(String scope) throws Exception {
    TestKafkaCluster cluster = TestKafkaCluster.start();
    cluster.createTopic(Topics.ADAPTERS.name(), 1, Topics.ADAPTERS.topicConfigs());
    return new AdaptersCli(cluster, scope);
  }

  String bootstrap() {
    return cluster.bootstrapServers();
  }

  String registry() {
    return MockSchemaRegistry.URL_PREFIX + scope;
  }

  AdapterTopic topic() {
    return new AdapterTopic(
        Map.of("bootstrap.servers", bootstrap()),
        Map.of(AvroSerdeConfig.SCHEMA_REGISTRY_URL, registry()));
  }

  /** Removes every registered adapter (tombstones), so that a test starts from an empty catalog. */
  void empty() throws Exception {
    AdapterTopic topic = topic();
    for (String id : topic.read().adapters().keySet()) {
      topic.write(id, null);
    }
  }

  /** {@code ./lorastream adapters ARGS --bootstrap-servers ... --schema-registry-url ...}. */
  Run run(String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    CommandLine cmd = new CommandLine(new AdaptersCommand(Clock.fixed(NOW, ZoneOffset.UTC)));
    cmd.setOut(new PrintWriter(out, true));
    cmd.setErr(new PrintWriter(err, true));
    List<String> all = new ArrayList<>(List.of(args));
    all.addAll(List.of("--bootstrap-servers", bootstrap(), "--schema-registry-url", registry()));
    int code = cmd.execute(all.toArray(String[]::new));
    return new Run(code, out.toString(), err.toString());
  }

  /** The next offset of {@code lora.adapters}. */
  long end() {
    try (KafkaConsumer<byte[], byte[]> c =
        new KafkaConsumer<>(
            Map.of("bootstrap.servers", bootstrap()),
            new ByteArrayDeserializer(),
            new ByteArrayDeserializer())) {
      return c.endOffsets(List.of(P0)).get(P0);
    }
  }

  @Override
  public void close() throws Exception {
    try {
      cluster.close();
    } finally {
      MockSchemaRegistry.dropScope(scope);
    }
  }

  /** A PEFT folder: adapter_config.json with rank r and base model, weights of the given bytes. */
  static Path adapter(Path dir, int r, String base, String weights) throws Exception {
    Files.createDirectories(dir);
    Files.writeString(
        dir.resolve("adapter_config.json"),
        "{\"peft_type\": \"LORA\", \"r\": "
            + r
            + ", \"lora_alpha\": 16, \"target_modules\": [\"q_proj\", \"v_proj\"]"
            + (base == null ? "" : ", \"base_model_name_or_path\": \"" + base + "\"")
            + "}");
    Files.writeString(dir.resolve("adapter_model.safetensors"), weights);
    return dir;
  }

  /** Lower-case hex SHA-256 of the UTF-8 bytes of {@code s}. */
  static String sha256(String s) throws Exception {
    return HexFormat.of()
        .formatHex(MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8)));
  }

  static void assertRun(Run r, int code, String out, String err) {
    assertEquals(err, r.err(), "stderr");
    assertEquals(out, r.out(), "stdout");
    assertEquals(code, r.code(), "exit code");
  }
}
