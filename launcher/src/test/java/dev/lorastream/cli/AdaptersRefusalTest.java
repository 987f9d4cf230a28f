package dev.lorastream.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every refusal of {@code ./lorastream adapters add} and {@code rm} leaves {@code lora.adapters} as
 * it was: bad arguments (exit code 2) and another tenant's or an unknown adapter (exit code 1).
 */
class AdaptersRefusalTest {
  static AdaptersCli cli;
  @TempDir Path tmp;

  @BeforeAll
  static void start() throws Exception {
    cli = AdaptersCli.start("adapters-refusal-test");
  }

  @AfterAll
  static void stop() throws Exception {
    if (cli != null) {
      cli.close();
    }
  }

  @BeforeEach
  void emptyCatalog() throws Exception {
    cli.empty();
  }

  @Test
  void everyBadArgumentIsRefusedWithExitCode2AndNothingWritten() throws Exception {
    Path a0 = AdaptersCli.adapter(tmp.resolve("a0"), 4, "tiny-llama", "weights-a0");
    String uri = a0.toUri().toString();
    String other = "0".repeat(64);
    long at = cli.end();
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
            + AdaptersCli.sha256("weights-a0")
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
      String[] args = Arrays.copyOfRange(c, 1, c.length);
      AdaptersCli.Run r = cli.run(args);
      AdaptersCli.assertRun(
          r, 2, "", "adapters " + args[0] + ": " + c[0] + "; nothing was written\n");
    }
    assertEquals(at, cli.end(), "nothing written to lora.adapters");
  }

  @Test
  void anotherTenantsAdapterIsNeitherReplacedNorRemoved() throws Exception {
    Path b0 = AdaptersCli.adapter(tmp.resolve("b0"), 4, "tiny-llama", "weights-b0");
    String uri = b0.toUri().toString();
    assertEquals(0, cli.run("add", "--tenant", "globex", "--id", "b0", "--source", uri).code());
    assertEquals(
        0, cli.run("add", "--tenant", "globex", "--id", "p", "--source", uri, "--public").code());
    long at = cli.end();
    AdaptersCli.assertRun(
        cli.run("add", "--tenant", "acme", "--id", "b0", "--source", uri),
        1,
        "",
        "adapters add: adapter b0 belongs to tenant globex; choose another --id; nothing was"
            + " written\n");
    AdaptersCli.assertRun(
        cli.run("rm", "--tenant", "acme", "--id", "b0"),
        1,
        "",
        "adapters rm: adapter b0 belongs to tenant globex, not acme; nothing was written\n");
    AdaptersCli.assertRun(
        cli.run("add", "--tenant", "acme", "--id", "p", "--source", uri),
        1,
        "",
        "adapters add: adapter p is public; replace it with --public, or remove it first"
            + " (adapters rm); nothing was written\n");
    AdaptersCli.assertRun(
        cli.run("rm", "--tenant", "acme", "--id", "nope"),
        1,
        "",
        "adapters rm: adapter nope is not registered on lora.adapters; nothing was written\n");
    assertEquals(at, cli.end(), "nothing written to lora.adapters");
    assertEquals("globex", cli.topic().read().adapters().get("b0").getOwnerTenant());
  }
}
