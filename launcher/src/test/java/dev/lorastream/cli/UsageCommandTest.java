package dev.lorastream.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.devstack.TestKafkaCluster;
import dev.lorastream.schemas.TenantUsage;
import dev.lorastream.schemas.Topics;
import dev.lorastream.schemas.UsageKey;
import dev.lorastream.schemas.registry.MockSchemaRegistry;
import dev.lorastream.schemas.serde.AvroSerdeConfig;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import picocli.CommandLine;

@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class UsageCommandTest {
  private static final Instant NOW = Instant.parse("2026-12-06T15:30:00Z");
  private static final long HOUR = UsageKey.WINDOW_MS;
  private static final long H15 = Instant.parse("2026-12-06T15:00:00Z").toEpochMilli();
  private static final String SCOPE = "usage-command-test";

  private TestKafkaCluster cluster;

  @BeforeAll
  void startBroker() throws Exception {
    cluster = TestKafkaCluster.start();
    cluster.createTopic(Topics.USAGE.name(), 1, Topics.USAGE.topicConfigs());
    try (KafkaProducer<String, TenantUsage> p =
        new KafkaProducer<>(
            Map.of("bootstrap.servers", cluster.bootstrapServers(), "transactional.id", "t1"),
            new StringSerializer(),
            Topics.USAGE.valueSerde(serde()).serializer())) {
      p.initTransactions();
      p.beginTransaction();
      send(p, usage("c1", H15 - HOUR, "acme", "legal", 1, 10, 20)); // 14:00
      send(p, usage("c1", H15, "acme", "legal", 2, 30, 40)); // replaced below
      send(p, usage("c1", H15, "acme", "legal", 3, 50, 60));
      send(p, usage("c2", H15, "acme", null, 4, 70, 80));
      send(p, usage("c2", H15, "globex", "legal", 9, 90, 90));
      send(p, usage("c1", H15 - 30 * HOUR, "acme", "legal", 100, 100, 100)); // long ago
      p.commitTransaction();
      p.beginTransaction();
      send(p, usage("c1", H15, "acme", "medical", 1000, 1000, 1000)); // aborted: not counted
      p.flush();
      p.abortTransaction();
    }
  }

  @AfterAll
  void stopBroker() throws Exception {
    cluster.close();
    MockSchemaRegistry.dropScope(SCOPE);
  }

  private static Map<String, Object> serde() {
    return Map.of(AvroSerdeConfig.SCHEMA_REGISTRY_URL, MockSchemaRegistry.URL_PREFIX + SCOPE);
  }

  private static void send(KafkaProducer<String, TenantUsage> p, TenantUsage u) {
    p.send(new ProducerRecord<>(Topics.USAGE.name(), UsageKey.of(u).encode(), u));
  }

  private static TenantUsage usage(
      String consumer,
      long window,
      String tenant,
      String adapter,
      long requests,
      long prompt,
      long completion) {
    return TenantUsage.newBuilder()
        .setConsumerId(consumer)
        .setWindowStartEpochMs(window)
        .setWindowMs(HOUR)
        .setTenantId(tenant)
        .setAdapterId(adapter)
        .setRequests(requests)
        .setErrors(requests / 3)
        .setPromptTokens(prompt)
        .setCompletionTokens(completion)
        .setUpdatedEpochMs(window)
        .build();
  }

  record Run(int code, String out, String err) {}

  private Run run(String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    CommandLine cmd = new CommandLine(new UsageCommand(Clock.fixed(NOW, ZoneOffset.UTC)));
    cmd.setOut(new PrintWriter(out, true));
    cmd.setErr(new PrintWriter(err, true));
    List<String> all = new java.util.ArrayList<>(List.of(args));
    all.addAll(
        List.of(
            "--bootstrap-servers",
            cluster.bootstrapServers(),
            "--schema-registry-url",
            MockSchemaRegistry.URL_PREFIX + SCOPE));
    int code = cmd.execute(all.toArray(String[]::new));
    return new Run(code, out.toString(), err.toString());
  }

  @Test
  void theTotalsOfTheLastDayAreCommittedLatestCountsPerAdapterSummedOverConsumers() {
    Run r = run("--tenant", "acme");
    assertEquals("", r.err());
    assertEquals(0, r.code());
    assertEquals(
        String.join(
            "\n",
            "usage of tenant acme since 2026-12-05T15:00:00Z (whole hours):",
            "adapter                            requests   errors  prompt_tokens  completion_tokens",
            "base                                      4        1             70                 80",
            "legal                                     4        1             60                 80",
            "total                                     8        2            130                160",
            ""),
        r.out());
  }

  @Test
  void sinceTakesTheWholeHourHoldingIt() {
    Run r = run("--tenant", "acme", "--since", "2026-12-06T15:59:00Z", "--json");
    assertEquals(0, r.code(), r.err());
    assertEquals(
        String.join(
            "\n",
            "{\"tenant\":\"acme\",\"adapter\":\"base\",\"since\":\"2026-12-06T15:00:00Z\",\"requests\":4,"
                + "\"errors\":1,\"prompt_tokens\":70,\"completion_tokens\":80}",
            "{\"tenant\":\"acme\",\"adapter\":\"legal\",\"since\":\"2026-12-06T15:00:00Z\",\"requests\":3,"
                + "\"errors\":1,\"prompt_tokens\":50,\"completion_tokens\":60}",
            "{\"tenant\":\"acme\",\"adapter\":\"total\",\"since\":\"2026-12-06T15:00:00Z\",\"requests\":7,"
                + "\"errors\":2,\"prompt_tokens\":120,\"completion_tokens\":140}",
            ""),
        r.out());
  }

  @Test
  void aTenantWithoutUsageHasAZeroTotal() {
    Run r = run("--tenant", "initech", "--since", "2026-12-01");
    assertEquals(0, r.code(), r.err());
    assertTrue(
        r.out()
            .endsWith(
                "total                                     0        0              0                  0\n"),
        r.out());
  }

  @Test
  void aBadSinceOrTenantIsExit2NamingIt() {
    Run r = run("--tenant", "acme", "--since", "yesterday");
    assertEquals(2, r.code());
    assertTrue(r.err().contains("--since 'yesterday' is not understood"), r.err());
    Run t = run("--tenant", "Not_A_Tenant");
    assertEquals(2, t.code());
    assertTrue(t.err().contains("'Not_A_Tenant' is not a tenant name"), t.err());
  }

  @Test
  void sinceForms() {
    Instant now = NOW;
    assertEquals(now.minusSeconds(90 * 60).toEpochMilli(), UsageCommand.parseSince("90m", now));
    assertEquals(now.minusSeconds(24 * 3600).toEpochMilli(), UsageCommand.parseSince("24h", now));
    assertEquals(now.minusSeconds(30 * 86400).toEpochMilli(), UsageCommand.parseSince("30d", now));
    assertEquals(
        Instant.parse("2026-12-01T00:00:00Z").toEpochMilli(),
        UsageCommand.parseSince("2026-12-01", now));
    assertThrows(IllegalArgumentException.class, () -> UsageCommand.parseSince("-1h", now));
  }
}
