package dev.lorastream.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.devstack.TestKafkaCluster;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code ./lorastream tenant add} against a SASL/PLAIN broker with the StandardAuthorizer, logged
 * in through {@code --command-config} as the super user.
 */
class TenantCommandTest {

  static TestKafkaCluster cluster;
  @TempDir Path dir;

  @BeforeAll
  static void start() throws Exception {
    cluster = TestKafkaCluster.startSasl();
  }

  @AfterAll
  static void stop() throws Exception {
    if (cluster != null) {
      cluster.close();
    }
  }

  private record Run(int code, String out, String err) {}

  private Run add(String user, String password, String... args) throws Exception {
    return run("add", user, password, args);
  }

  private Run run(String sub, String user, String password, String... args) throws Exception {
    Path config = dir.resolve(user + ".properties");
    Files.writeString(
        config,
        "security.protocol=SASL_PLAINTEXT\n"
            + "sasl.mechanism=PLAIN\n"
            + "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required"
            + " username=\""
            + user
            + "\" password=\""
            + password
            + "\";\n"
            + "default.api.timeout.ms=10000\n"
            + "request.timeout.ms=5000\n");
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    CommandLine cmd = new CommandLine(new Main());
    cmd.setOut(new PrintWriter(out, true));
    cmd.setErr(new PrintWriter(err, true));
    List<String> all =
        new java.util.ArrayList<>(
            List.of(
                "tenant",
                sub,
                "--bootstrap-server",
                cluster.bootstrapServers(),
                "--command-config",
                config.toString()));
    all.addAll(List.of(args));
    int code = cmd.execute(all.toArray(String[]::new));
    return new Run(code, out.toString(), err.toString());
  }

  @Test
  void addPrintsTheTopicsAndAclsItCreatedAndIsSafeToRunAgain() throws Exception {
    Run first = add("admin", "admin-secret", "hooli", "--partitions", "2");
    assertEquals(0, first.code(), first.err());
    assertEquals(
        List.of(
            "tenant hooli: created topic lora.tenant.hooli.cancel",
            "tenant hooli: created topic lora.tenant.hooli.replies",
            "tenant hooli: created topic lora.tenant.hooli.requests",
            "tenant hooli: created topic lora.tenant.hooli.stream",
            "tenant hooli: created topic lora.tenant.hooli.usage",
            "tenant hooli: ACL ALLOW User:hooli WRITE on TOPIC lora.tenant.hooli.requests (LITERAL)",
            "tenant hooli: ACL ALLOW User:hooli READ on TOPIC lora.tenant.hooli.replies (LITERAL)",
            "tenant hooli: ACL ALLOW User:hooli READ on TOPIC lora.tenant.hooli.stream (LITERAL)",
            "tenant hooli: ACL ALLOW User:hooli WRITE on TOPIC lora.tenant.hooli.cancel (LITERAL)",
            "tenant hooli: ACL ALLOW User:hooli READ on TOPIC lora.tenant.hooli.usage (LITERAL)",
            "tenant hooli: ACL ALLOW User:hooli READ on GROUP lora.tenant.hooli (LITERAL)",
            "tenant hooli: done; create the credentials of User:hooli yourself (e.g."
                + " kafka-configs.sh --alter --add-config 'SCRAM-SHA-512=[password=...]'"
                + " --entity-type users --entity-name hooli)"),
        first.out().lines().toList());

    Run again = add("admin", "admin-secret", "hooli", "--partitions", "2");
    assertEquals(0, again.code(), again.err());
    assertTrue(
        again.out().startsWith("tenant hooli: topic lora.tenant.hooli.cancel exists, kept\n"),
        again.out());
  }

  @Test
  void aTenantMayNotAddATenant() throws Exception {
    Run r = add("acme", "acme-secret", "mallory");
    assertEquals(2, r.code(), r.out());
    assertTrue(
        r.err()
            .startsWith(
                "tenant add: cannot create topic lora.tenant.mallory."), // order by the broker
        r.err());
    assertTrue(r.err().contains("TopicAuthorizationException"), r.err());
  }

  @Test
  void aNameThatIsNoTenantNameIsRefused() throws Exception {
    Run r = add("admin", "admin-secret", "mallory_1");
    assertEquals(2, r.code());
    assertEquals(
        "tenant add: 'mallory_1' is not a tenant name: 1 to 48 characters of a-z 0-9 -, starting"
            + " with a letter or digit (no dots or underscores, so that tenant topic names cannot"
            + " collide)\n",
        r.err());
  }

  @Test
  void servicesGivesTheCatalogAdministratorTheOnlyWriteOnTheCatalog() throws Exception {
    cluster.createTopic("lora.adapters", 1, java.util.Map.of("cleanup.policy", "compact"));
    Run r = run("services", "admin", "admin-secret", "--catalog-admin", "User:catalog");
    assertEquals(0, r.code(), r.err());
    assertEquals(
        List.of(
            "services: ACL ALLOW User:catalog READ on TOPIC lora.adapters (LITERAL)",
            "services: ACL ALLOW User:catalog WRITE on TOPIC lora.adapters (LITERAL)"),
        r.out().lines().toList());
    for (String user : List.of("catalog", "acme")) {
      var config = new java.util.HashMap<>(cluster.clientConfig(user));
      config.put("max.block.ms", "10000");
      try (var p =
          new org.apache.kafka.clients.producer.KafkaProducer<>(
              config,
              new org.apache.kafka.common.serialization.StringSerializer(),
              new org.apache.kafka.common.serialization.StringSerializer())) {
        var sent =
            p.send(
                new org.apache.kafka.clients.producer.ProducerRecord<>("lora.adapters", "a", "b"));
        if (user.equals("catalog")) {
          sent.get();
        } else {
          var e =
              org.junit.jupiter.api.Assertions.assertThrows(
                  java.util.concurrent.ExecutionException.class, sent::get);
          assertTrue(
              e.getCause() instanceof org.apache.kafka.common.errors.TopicAuthorizationException,
              String.valueOf(e.getCause()));
        }
      }
    }
    // adapters ls logs in as the catalog administrator: it may read the catalog ("b" is no Avro)
    Path catalog = dir.resolve("catalog.properties");
    Files.writeString(
        catalog,
        "security.protocol=SASL_PLAINTEXT\n"
            + "sasl.mechanism=PLAIN\n"
            + "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required"
            + " username=\"catalog\" password=\""
            + TestKafkaCluster.password("catalog")
            + "\";\n");
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    CommandLine adapters = new CommandLine(new AdaptersCommand());
    adapters.setOut(new PrintWriter(out, true));
    adapters.setErr(new PrintWriter(err, true));
    int code =
        adapters.execute(
            "ls",
            "--bootstrap-servers",
            cluster.bootstrapServers(),
            "--schema-registry-url",
            "mock://tenant-command-test",
            "--command-config",
            catalog.toString());
    assertEquals(0, code, err.toString());
    assertEquals("ID  OWNER  RANK  SIZE  BASE MODEL  SOURCE  CREATED\n", out.toString());
    assertEquals(
        "adapters ls: skipped 1 unreadable record(s) of lora.adapters (the batcher copies them to"
            + " lora.adapters.dlq)\n",
        err.toString());
    Run none = run("services", "admin", "admin-secret");
    assertEquals(2, none.code());
    assertEquals(
        "tenant services: name at least one of --batcher, --consumer, --catalog-admin,"
            + " --gateway\n",
        none.err());
  }
}
