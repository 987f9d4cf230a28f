package dev.lorastream.ingest.bulk;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** {@link BulkCommand} paths that need no broker. */
class BulkCommandTest {
  @TempDir Path dir;

  private int run(StringWriter err, String... args) {
    CommandLine cmd = new CommandLine(new BulkCommand());
    cmd.setErr(new PrintWriter(err, true));
    return cmd.execute(args);
  }

  @Test
  void inputWithNothingSendableNeedsNoBrokerAndStillFails() throws Exception {
    Path input = dir.resolve("in.jsonl");
    Path output = dir.resolve("out.jsonl");
    Files.writeString(input, "{\"id\": \"a\"}\nnot json\n");
    StringWriter err = new StringWriter();
    int code =
        run(
            err,
            "--input",
            input.toString(),
            "--output",
            output.toString(),
            "--tenant",
            "t",
            "--bootstrap-servers",
            "localhost:1");
    assertEquals(1, code, err.toString());
    assertTrue(
        err.toString().contains("a (line 1): INVALID_PARAMS line 1: \"text\" missing"),
        err.toString());
    assertTrue(err.toString().contains("line 2: not JSON"), err.toString());
    ResultRow row = ResultRow.fromJson(Files.readString(output).strip());
    assertEquals("INVALID_PARAMS", row.errorCode());
  }

  @Test
  void usageErrorsExitWithTwo() {
    StringWriter err = new StringWriter();
    assertEquals(2, run(err, "--input", "x.jsonl", "--output", "y.jsonl"));
    assertTrue(err.toString().contains("--tenant"), err.toString());
    StringWriter missing = new StringWriter();
    assertEquals(
        2,
        run(
            missing,
            "--input",
            dir.resolve("none.jsonl").toString(),
            "--output",
            "y.jsonl",
            "--tenant",
            "t"));
    assertTrue(missing.toString().contains("none.jsonl"), missing.toString());
  }

  @Test
  void timeoutsReadAsUnits() {
    var c = new BulkCommand.DurationConverter();
    assertEquals(Duration.ofMillis(500), c.convert("500ms"));
    assertEquals(Duration.ofSeconds(90), c.convert("90s"));
    assertEquals(Duration.ofMinutes(5), c.convert("5m"));
    assertEquals(Duration.ofHours(1), c.convert("1h"));
    assertEquals(Duration.ofSeconds(30), c.convert("30"));
    assertThrows(IllegalArgumentException.class, () -> c.convert("0s"));
  }

  @Test
  void tenancyTopicsUsesTheTenantsTopicsAndTheCommandConfigLogsIn() throws Exception {
    Path props = dir.resolve("client.properties");
    Files.writeString(props, "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\n");
    BulkCommand bulk = new BulkCommand();
    new CommandLine(bulk)
        .parseArgs(
            "--input",
            "in.jsonl",
            "--output",
            "out.jsonl",
            "--tenant",
            "acme",
            "--tenancy",
            "topics",
            "--command-config",
            props.toString());
    var c = bulk.clientConfig();
    assertEquals("lora.tenant.acme.requests", c.requestTopic());
    assertEquals("lora.tenant.acme.replies", c.replyTopic());
    assertEquals(
        java.util.Map.of("security.protocol", "SASL_PLAINTEXT", "sasl.mechanism", "PLAIN"),
        c.kafkaOverrides());

    BulkCommand shared = new BulkCommand();
    new CommandLine(shared)
        .parseArgs("--input", "in.jsonl", "--output", "out.jsonl", "--tenant", "acme");
    assertEquals("lora.requests", shared.clientConfig().requestTopic());
    assertEquals("lora.replies", shared.clientConfig().replyTopic());
  }

  @Test
  void aBadTenancyOrTenantNameExitsWithTwoNamingIt() throws Exception {
    Path input = dir.resolve("in.jsonl");
    Files.writeString(input, "{\"id\": \"a\", \"text\": \"x\"}\n");
    StringWriter err = new StringWriter();
    String out = dir.resolve("out.jsonl").toString();
    assertEquals(
        2,
        run(
            err,
            "--input",
            input.toString(),
            "--output",
            out,
            "--tenant",
            "acme",
            "--tenancy",
            "tenants"));
    assertTrue(
        err.toString()
            .contains("bulk: --tenancy=tenants is invalid: must be one of [shared, topics]"),
        err.toString());
    StringWriter err2 = new StringWriter();
    assertEquals(
        2,
        run(
            err2,
            "--input",
            input.toString(),
            "--output",
            out,
            "--tenant",
            "Acme",
            "--tenancy",
            "topics"));
    assertTrue(err2.toString().contains("bulk: 'Acme' is not a tenant name"), err2.toString());
  }
}
