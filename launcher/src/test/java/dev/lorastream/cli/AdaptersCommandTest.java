package dev.lorastream.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.lorastream.schemas.Topics;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
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

/**
 * {@code ./lorastream adapters add|ls|show|rm} on a real broker with the {@code mock://} registry:
 * the round trip with its exact output. The refusals are in {@link AdaptersRefusalTest}.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class AdaptersCommandTest {
  static AdaptersCli cli;
  @TempDir Path tmp;

  @BeforeAll
  static void start() throws Exception {
    cli = AdaptersCli.start("adapters-command-test");
  }

  @AfterAll
  static void stop() throws Exception {
    if (cli != null) {
      cli.close();
    }
  }

  /** Every test starts from an empty catalog: the adapters of the ones before are removed. */
  @BeforeEach
  void emptyCatalog() throws Exception {
    cli.empty();
  }

  @Test
  void addLsShowRmRoundTrip() throws Exception {
    Path a0 = AdaptersCli.adapter(tmp.resolve("a0"), 4, "tiny-llama", "weights-a0");
    String uri = a0.toUri().toString();
    String sha = AdaptersCli.sha256("weights-a0");
    long at = cli.end();
    AdaptersCli.assertRun(
        cli.run("add", "--tenant", "acme", "--id", "a0", "--source", uri),
        0,
        "added adapter a0 (owner acme, rank 4, base model tiny-llama, sha256 "
            + sha
            + "): lora.adapters partition 0 offset "
            + at
            + "\n",
        "");
    String pubSha = "AB".repeat(32);
    AdaptersCli.assertRun(
        cli.run(
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
    Path b0 = AdaptersCli.adapter(tmp.resolve("b0"), 16, "tiny-llama", "weights-b0-longer");
    assertEquals(
        0, cli.run("add", "--tenant", "globex", "--id", "b0", "--source", "" + b0.toUri()).code());

    String created = "2026-12-05T12:00:00Z";
    AdaptersCli.assertRun(
        cli.run("ls"),
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
    AdaptersCli.assertRun(
        cli.run("ls", "--tenant", "acme"),
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
    AdaptersCli.assertRun(
        cli.run("show", "--id", "a0"),
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
            + AdaptersCli.NOW.toEpochMilli()
            + ")\n",
        "");

    at = cli.end();
    AdaptersCli.assertRun(
        cli.run("add", "--tenant", "acme", "--id", "a0", "--source", uri, "--sha256", sha),
        0,
        "replaced adapter a0 (owner acme, rank 4, base model tiny-llama, sha256 "
            + sha
            + "): lora.adapters partition 0 offset "
            + at
            + "\n",
        "");
    AdaptersCli.assertRun(
        cli.run("rm", "--tenant", "acme", "--id", "a0"),
        0,
        "removed adapter a0 (owner acme): tombstone at lora.adapters partition 0 offset "
            + (at + 1)
            + "\n",
        "");
    AdaptersCli.assertRun(
        cli.run("show", "--id", "a0"),
        1,
        "",
        "adapters show: a0 is not registered on lora.adapters\n");
    AdaptersCli.assertRun(
        cli.run("rm", "--tenant", "globex", "--id", "pub.1"),
        0,
        "removed adapter pub.1 (public): tombstone at lora.adapters partition 0 offset "
            + (at + 2)
            + "\n",
        "");
    assertEquals(List.of("b0"), List.copyOf(cli.topic().read().adapters().keySet()));
  }

  @Test
  void anHttpSourceWithoutSha256IsRegisteredWithAWarning() throws Exception {
    AdaptersCli.Run r =
        cli.run(
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
    assertEquals(null, cli.topic().read().adapters().get("remote").getSha256());
  }

  @Test
  @Order(Integer.MAX_VALUE) // the record stays in the topic: every later read would count it
  void undecodableRecordsAreCountedNotFatal() throws Exception {
    try (KafkaProducer<String, byte[]> p =
        new KafkaProducer<>(
            Map.of("bootstrap.servers", cli.bootstrap()),
            new StringSerializer(),
            new ByteArraySerializer())) {
      p.send(new ProducerRecord<>(Topics.ADAPTERS.name(), "junk", "{}".getBytes())).get();
    }
    AdaptersCli.Run r = cli.run("ls");
    AdaptersCli.assertRun(
        r,
        0,
        "ID  OWNER  RANK  SIZE  BASE MODEL  SOURCE  CREATED\n",
        "adapters ls: skipped 1 unreadable record(s) of lora.adapters (the batcher copies them to"
            + " lora.adapters.dlq)\n");
  }
}
