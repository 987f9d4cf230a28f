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
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code ./lorastream adapters add|ls|show|rm} on a real broker (Kafka's test kit) with the {@code
 * mock://} registry: the round trip with its exact output, and every refusal leaving {@code
 * lora.adapters} as it was.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class AdaptersCommandTest {
  static final String SCOPE = "adapters-command-test";
  static final String REGISTRY = MockSchemaRegistry.URL_PREFIX + SCOPE;
  static final Instant NOW = Instant.parse("2026-12-05T12:00:00Z");
  static final TopicPartition P0 = new TopicPartition(Topics.ADAPTERS.name(), 0);

  static TestKafkaCluster cluster;
  @TempDir Path tmp;

  @BeforeAll
  static void start() throws Exception {
    cluster = TestKafkaCluster.start();
    cluster.createTopic(Topics.ADAPTERS.name(), 1, Topics.ADAPTERS.topicConfigs());
  }

  @AfterAll
  static void stop() throws Exception {
    if (cluster != null) {
      cluster.close();
    }
    MockSchemaRegistry.dropScope(SCOPE);
  }

  /** Every test starts from an empty catalog: the adapters of the ones before are removed. */
  @BeforeEach
  void emptyCatalog() throws Exception {
    AdapterTopic topic = topic();
    for (String id : topic.read().adapters().keySet()) {
      topic.write(id, null);
    }
  }

  record Run(int code, String out, String err) {}

  static AdapterTopic topic() {
    return new AdapterTopic(
        Map.of("bootstrap.servers", cluster.bootstrapServers()),
        Map.of(AvroSerdeConfig.SCHEMA_REGISTRY_URL, REGISTRY));
  }

  static Run run(String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    CommandLine cmd = new CommandLine(new AdaptersCommand(Clock.fixed(NOW, ZoneOffset.UTC)));
    cmd.setOut(new PrintWriter(out, true));
    cmd.setErr(new PrintWriter(err, true));
    List<String> all = new ArrayList<>(List.of(args));
    all.addAll(
        List.of(
            "--bootstrap-servers", cluster.bootstrapServers(), "--schema-registry-url", REGISTRY));
    int code = cmd.execute(all.toArray(String[]::new));
    return new Run(code, out.toString(), err.toString());
  }

  /** The next offset of {@code lora.adapters} (one partition). */
  static long end() {
    try (KafkaConsumer<byte[], byte[]> c =
        new KafkaConsumer<>(
            Map.of("bootstrap.servers", cluster.bootstrapServers()),
            new ByteArrayDeserializer(),
            new ByteArrayDeserializer())) {
      return c.endOffsets(List.of(P0)).get(P0);
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

  static String sha256(String s) throws Exception {
    return HexFormat.of()
        .formatHex(MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8)));
  }

  static void assertRun(Run r, int code, String out, String err) {
    assertEquals(err, r.err(), "stderr");
    assertEquals(out, r.out(), "stdout");
    assertEquals(code, r.code(), "exit code");
  }

  @Test
  void addLsShowRmRoundTrip() throws Exception {
    Path a0 = adapter(tmp.resolve("a0"), 4, "tiny-llama", "weights-a0");
    String uri = a0.toUri().toString();
    String sha = sha256("weights-a0");
    long at = end();
    assertRun(
        run("add", "--tenant", "acme", "--id", "a0", "--source", uri),
        0,
        "added adapter a0 (owner acme, rank 4, base model tiny-llama, sha256 "
            + sha
            + "): lora.adapters partition 0 offset "
            + at
            + "\n",
        "");
    String pubSha = "AB".repeat(32);
    assertRun(
        run(
            "add",
            "--tenant",
            "acme",
            "--id",
            "pub.1",
            "--source",
            "https://models.example/pub1",
            "--rank",
            "8",
            "--base-model",
            "tiny-llama",
            "--sha256",
            pubSha,
            "--public"),
        0,
        "added adapter pub.1 (public, rank 8, base model tiny-llama, sha256 "
            + "ab".repeat(32)
            + "): lora.adapters partition 0 offset "
            + (at + 1)
            + "\n",
        "");
    Path b0 = adapter(tmp.resolve("b0"), 16, "tiny-llama", "weights-b0-longer");
    assertEquals(
        0, run("add", "--tenant", "globex", "--id", "b0", "--source", "" + b0.toUri()).code());

    String created = "2026-12-05T12:00:00Z";
    assertRun(
        run("ls"),
        0,
        "ID     OWNER   RANK  SIZE  BASE MODEL  "
            + String.format("%-" + (uri.length() + 2) + "s", "SOURCE")
            + "CREATED\n"
            + "a0     acme    4     10    tiny-llama  "
            + String.format("%-" + (uri.length() + 2) + "s", uri)
            + created
            + "\n"
            + "b0     globex  16    17    tiny-llama  "
            + String.format("%-" + (uri.length() + 2) + "s", b0.toUri())
            + created
            + "\n"
            + "pub.1  -       8     -     tiny-llama  "
            + String.format("%-" + (uri.length() + 2) + "s", "https://models.example/pub1")
            + created
            + "\n",
        "");
    assertRun(
        run("ls", "--tenant", "acme"),
        0,
        "ID     OWNER  RANK  SIZE  BASE MODEL  "
            + String.format("%-" + (uri.length() + 2) + "s", "SOURCE")
            + "CREATED\n"
            + "a0     acme   4     10    tiny-llama  "
            + String.format("%-" + (uri.length() + 2) + "s", uri)
            + created
            + "\n"
            + "pub.1  -      8     -     tiny-llama  "
            + String.format("%-" + (uri.length() + 2) + "s", "https://models.example/pub1")
            + created
            + "\n",
        "");
    assertRun(
        run("show", "--id", "a0"),
        0,
        "adapterId:   a0\n"
            + "ownerTenant: acme\n"
            + "sourceUri:   "
            + uri
            + "\n"
            + "sha256:      "
            + sha
            + "\n"
            + "rank:        4\n"
            + "baseModel:   tiny-llama\n"
            + "sizeBytes:   10\n"
            + "created:     2026-12-05T12:00:00Z (createdEpochMs "
            + NOW.toEpochMilli()
            + ")\n",
        "");

    at = end();
    assertRun(
        run("add", "--tenant", "acme", "--id", "a0", "--source", uri, "--sha256", sha),
        0,
        "replaced adapter a0 (owner acme, rank 4, base model tiny-llama, sha256 "
            + sha
            + "): lora.adapters partition 0 offset "
            + at
            + "\n",
        "");
    assertRun(
        run("rm", "--tenant", "acme", "--id", "a0"),
        0,
        "removed adapter a0 (owner acme): tombstone at lora.adapters partition 0 offset "
            + (at + 1)
            + "\n",
        "");
    assertRun(
        run("show", "--id", "a0"), 1, "", "adapters show: a0 is not registered on lora.adapters\n");
    assertRun(
        run("rm", "--tenant", "globex", "--id", "pub.1"),
        0,
        "removed adapter pub.1 (public): tombstone at lora.adapters partition 0 offset "
            + (at + 2)
            + "\n",
        "");
    assertEquals(List.of("b0"), List.copyOf(topic().read().adapters().keySet()));
  }

  @Test
  void anHttpSourceWithoutSha256IsRegisteredWithAWarning() throws Exception {
    Run r =
        run(
            "add",
            "--tenant",
            "acme",
            "--id",
            "remote",
            "--source",
            "http://models.example/remote",
            "--rank",
            "8",
            "--base-model",
            "tiny-llama");
    assertEquals(0, r.code(), r.err());
    assertEquals(
        "adapters add: warning: no --sha256 for an http(s) source: nothing will check that the"
            + " weights downloaded are the ones you meant; give --sha256 of"
            + " adapter_model.safetensors\n",
        r.err());
    assertEquals(null, topic().read().adapters().get("remote").getSha256());
  }

  @Test
  void everyBadArgumentIsRefusedWithExitCode2AndNothingWritten() throws Exception {
    Path a0 = adapter(tmp.resolve("a0"), 4, "tiny-llama", "weights-a0");
    String uri = a0.toUri().toString();
    String other = "0".repeat(64);
    long at = end();
    String[][] cases = {
      {
        "--tenant 'Acme' is not a tenant name: 1 to 48 characters of a-z 0-9 -, starting with a"
            + " letter or digit (no dots or underscores, so that tenant topic names cannot collide)",
        "add",
        "--tenant",
        "Acme",
        "--id",
        "a0",
        "--source",
        uri
      },
      {
        "--id 'a b' is not an adapter id: 1 to 128 characters of A-Z a-z 0-9 . _ -, starting with"
            + " a letter or digit",
        "add",
        "--tenant",
        "acme",
        "--id",
        "a b",
        "--source",
        uri
      },
      {
        "--id 'acme/sql' is not an adapter id: 1 to 128 characters of A-Z a-z 0-9 . _ -, starting"
            + " with a letter or digit ('/' is reserved for TENANT/NAME adapters resolved from a"
            + " tenant's folder, which are not registered)",
        "add",
        "--tenant",
        "acme",
        "--id",
        "acme/sql",
        "--source",
        uri
      },
      {
        "--source 's3://bucket/a0' must be a file://, http:// or https:// URI (the PEFT folder"
            + " with adapter_config.json and adapter_model.safetensors)",
        "add",
        "--tenant",
        "acme",
        "--id",
        "a0",
        "--source",
        "s3://bucket/a0"
      },
      {
        "--sha256 "
            + other
            + " does not match "
            + a0.resolve("adapter_model.safetensors")
            + " (its SHA-256 is "
            + sha256("weights-a0")
            + "); check the file, or leave --sha256 out to record the file's",
        "add",
        "--tenant",
        "acme",
        "--id",
        "a0",
        "--source",
        uri,
        "--sha256",
        other
      },
      {
        "--sha256 'xyz' is not a SHA-256: 64 hex digits (sha256sum adapter_model.safetensors)",
        "add",
        "--tenant",
        "acme",
        "--id",
        "a0",
        "--source",
        uri,
        "--sha256",
        "xyz"
      },
      {
        "--base-model 'other-llama' differs from base_model_name_or_path 'tiny-llama' in --source "
            + uri
            + "/adapter_config.json; leave --base-model out, or register the right adapter",
        "add",
        "--tenant",
        "acme",
        "--id",
        "a0",
        "--source",
        uri,
        "--base-model",
        "other-llama"
      },
      {
        "--rank is required for an http(s) --source: add does not download the adapter to read"
            + " its adapter_config.json",
        "add",
        "--tenant",
        "acme",
        "--id",
        "a0",
        "--source",
        "https://models.example/a0",
        "--base-model",
        "tiny-llama"
      },
      {
        "--tenant 'acme_2' is not a tenant name: 1 to 48 characters of a-z 0-9 -, starting with a"
            + " letter or digit (no dots or underscores, so that tenant topic names cannot collide)",
        "rm",
        "--tenant",
        "acme_2",
        "--id",
        "a0"
      },
    };
    for (String[] c : cases) {
      String[] args = java.util.Arrays.copyOfRange(c, 1, c.length);
      Run r = run(args);
      assertRun(r, 2, "", "adapters " + args[0] + ": " + c[0] + "; nothing was written\n");
    }
    assertEquals(at, end(), "nothing written to lora.adapters");
  }

  @Test
  void anotherTenantsAdapterIsNeitherReplacedNorRemoved() throws Exception {
    Path b0 = adapter(tmp.resolve("b0"), 4, "tiny-llama", "weights-b0");
    String uri = b0.toUri().toString();
    assertEquals(0, run("add", "--tenant", "globex", "--id", "b0", "--source", uri).code());
    assertEquals(
        0, run("add", "--tenant", "globex", "--id", "p", "--source", uri, "--public").code());
    long at = end();
    assertRun(
        run("add", "--tenant", "acme", "--id", "b0", "--source", uri),
        1,
        "",
        "adapters add: adapter b0 belongs to tenant globex; choose another --id; nothing was"
            + " written\n");
    assertRun(
        run("rm", "--tenant", "acme", "--id", "b0"),
        1,
        "",
        "adapters rm: adapter b0 belongs to tenant globex, not acme; nothing was written\n");
    assertRun(
        run("add", "--tenant", "acme", "--id", "p", "--source", uri),
        1,
        "",
        "adapters add: adapter p is public; replace it with --public, or remove it first"
            + " (adapters rm); nothing was written\n");
    assertRun(
        run("rm", "--tenant", "acme", "--id", "nope"),
        1,
        "",
        "adapters rm: adapter nope is not registered on lora.adapters; nothing was written\n");
    assertEquals(at, end(), "nothing written to lora.adapters");
    assertEquals("globex", topic().read().adapters().get("b0").getOwnerTenant());
  }

  @Test
  @Order(Integer.MAX_VALUE) // the record stays in the topic: every later read would count it
  void undecodableRecordsAreCountedNotFatal() throws Exception {
    try (KafkaProducer<String, byte[]> p =
        new KafkaProducer<>(
            Map.of("bootstrap.servers", cluster.bootstrapServers()),
            new StringSerializer(),
            new ByteArraySerializer())) {
      p.send(new ProducerRecord<>(Topics.ADAPTERS.name(), "junk", "{}".getBytes())).get();
    }
    Run r = run("ls");
    assertRun(
        r,
        0,
        "ID  OWNER  RANK  SIZE  BASE MODEL  SOURCE  CREATED\n",
        "adapters ls: skipped 1 unreadable record(s) of lora.adapters (the batcher copies them to"
            + " lora.adapters.dlq)\n");
  }
}
