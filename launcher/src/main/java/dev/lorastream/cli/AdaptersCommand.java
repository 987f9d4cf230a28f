package dev.lorastream.cli;

import dev.lorastream.schemas.AdapterRecord;
import dev.lorastream.schemas.Topics;
import dev.lorastream.schemas.serde.AvroSerdeConfig;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/**
 * {@code lorastream adapters add|ls|show|rm}: the adapter catalog, the compacted {@code
 * lora.adapters} topic that the batcher and every inference consumer read live. {@code add} and
 * {@code rm} read the whole topic first (as {@code ls} does) so that no tenant replaces or removes
 * another tenant's adapter, then write one record (a tombstone for {@code rm}).
 *
 * <p>Exit codes: 0 done; 1 the catalog refused (owned by another tenant, not registered); 2 a bad
 * argument or adapter file, or Kafka / the registry could not be reached. A refusal or a bad
 * argument writes nothing; when the write itself fails, the broker may still have taken it ({@code
 * show} tells).
 */
@Command(
    name = "adapters",
    mixinStandardHelpOptions = true,
    description = "Register, list, show and remove LoRA adapters on lora.adapters.",
    subcommands = {
      AdaptersCommand.Add.class,
      AdaptersCommand.Ls.class,
      AdaptersCommand.Show.class,
      AdaptersCommand.Rm.class
    })
public final class AdaptersCommand implements Runnable {
  @Spec CommandSpec spec;

  private final Clock clock;

  /** Picocli instantiates it: registration times from the system clock. */
  public AdaptersCommand() {
    this(Clock.systemUTC());
  }

  /** With the clock that stamps {@code createdEpochMs} of added adapters (tests fix it). */
  AdaptersCommand(Clock clock) {
    this.clock = Objects.requireNonNull(clock, "clock");
  }

  @Override
  public void run() {
    spec.commandLine().usage(spec.commandLine().getOut());
  }

  /**
   * Where the catalog lives: the options every subcommand takes, named as {@code bulk} has them.
   */
  static final class Connection {
    @Option(
        names = "--bootstrap-servers",
        defaultValue = "localhost:9092",
        description = "Kafka (default: ${DEFAULT-VALUE}).")
    String bootstrapServers;

    @Option(
        names = "--schema-registry-url",
        defaultValue = "http://localhost:8081",
        description = "Schema registry (default: ${DEFAULT-VALUE}).")
    String schemaRegistryUrl;

    @Option(
        names = "--command-config",
        paramLabel = "FILE",
        description =
            "Kafka client properties (security.protocol, sasl.mechanism, sasl.jaas.config, ...):"
                + " the login of a principal that may read and write lora.adapters.")
    Path commandConfig;

    /** The topic, with the {@code --command-config} properties and the servers. */
    AdapterTopic topic() throws IOException {
      return new AdapterTopic(kafka(), serde());
    }

    /** The Kafka client settings: the {@code --command-config} properties and the servers. */
    Map<String, Object> kafka() throws IOException {
      Map<String, Object> kafka = new HashMap<>();
      if (commandConfig != null) {
        Properties p = new Properties();
        try (Reader r = Files.newBufferedReader(commandConfig)) {
          p.load(r);
        }
        p.stringPropertyNames().forEach(k -> kafka.put(k, p.getProperty(k)));
      }
      kafka.put("bootstrap.servers", bootstrapServers);
      return kafka;
    }

    /** The serde settings: the registry. */
    Map<String, Object> serde() {
      return Map.of(AvroSerdeConfig.SCHEMA_REGISTRY_URL, schemaRegistryUrl);
    }
  }

  /**
   * Runs {@code body}: its exit code, or 2 with the message of a bad argument, an unreadable file
   * or a Kafka / registry failure on stderr.
   */
  static int guarded(CommandSpec spec, String what, Connection connection, Callable<Integer> body) {
    PrintWriter err = spec.commandLine().getErr();
    try {
      return body.call();
    } catch (IllegalArgumentException e) {
      err.println("adapters " + what + ": " + e.getMessage() + "; nothing was written");
      return 2;
    } catch (IOException e) {
      err.println("adapters " + what + ": cannot read " + e.getMessage() + "; nothing was written");
      return 2;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      err.println("adapters " + what + ": interrupted");
      return 2;
    } catch (Exception e) {
      Throwable cause = e.getCause() != null ? e.getCause() : e;
      err.println(
          "adapters "
              + what
              + ": "
              + Topics.ADAPTERS.name()
              + " could not be read or written: "
              + cause.getClass().getSimpleName()
              + ": "
              + cause.getMessage()
              + " (check --bootstrap-servers "
              + connection.bootstrapServers
              + " and --schema-registry-url "
              + connection.schemaRegistryUrl
              + ")");
      return 2;
    } finally {
      err.flush();
      spec.commandLine().getOut().flush();
    }
  }

  /** {@code lorastream adapters add}. */
  @Command(
      name = "add",
      mixinStandardHelpOptions = true,
      description =
          "Register an adapter, or replace one of your own. A file:// source is read: rank and"
              + " base model from adapter_config.json, size and SHA-256 of"
              + " adapter_model.safetensors.")
  static final class Add implements Callable<Integer> {
    @Spec CommandSpec spec;
    @ParentCommand AdaptersCommand parent;
    @Mixin Connection connection;

    @Option(names = "--tenant", required = true, description = "Who registers it; its owner.")
    String tenant;

    @Option(
        names = "--id",
        required = true,
        description = "Adapter id: 1-128 of A-Z a-z 0-9 . _ -, starting with a letter or digit.")
    String id;

    @Option(
        names = "--source",
        required = true,
        paramLabel = "URI",
        description = "The PEFT folder: file:///path, http://... or https://...")
    String source;

    @Option(
        names = "--sha256",
        paramLabel = "HEX",
        description = "SHA-256 of adapter_model.safetensors (default for file://: computed).")
    String sha256;

    @Option(
        names = "--base-model",
        paramLabel = "NAME",
        description = "Base model (default: base_model_name_or_path of adapter_config.json).")
    String baseModel;

    @Option(
        names = "--rank",
        description = "LoRA rank; required for an http(s) source, else read from the config.")
    Integer rank;

    @Option(names = "--public", description = "Any tenant may use it (no owner).")
    boolean isPublic;

    @Option(
        names = "--local-dir",
        paramLabel = "DIR",
        description =
            "Read a file:// source's files from DIR (e.g. the host folder mounted at the source"
                + " path in the consumers' containers).")
    Path localDir;

    @Override
    public Integer call() {
      return guarded(spec, "add", connection, this::add);
    }

    private int add() throws Exception {
      AdapterRegistration.Built built =
          new AdapterRegistration(tenant, id, source, sha256, baseModel, rank, isPublic, localDir)
              .build(parent.clock.millis());
      PrintWriter err = spec.commandLine().getErr();
      built.warnings().forEach(w -> err.println("adapters add: warning: " + w));
      AdapterTopic topic = connection.topic();
      AdapterRecord before = topic.read().adapters().get(id);
      String refusal = CatalogOwnership.refuseAdd(before, tenant, isPublic);
      if (refusal != null) {
        err.println("adapters add: " + refusal + "; nothing was written");
        return 1;
      }
      AdapterRecord r = built.record();
      AdapterTopic.Written w = topic.write(id, r);
      spec.commandLine()
          .getOut()
          .println(
              (before == null ? "added" : "replaced")
                  + " adapter "
                  + id
                  + " ("
                  + AdapterTable.owner(r)
                  + ", rank "
                  + r.getRank()
                  + ", base model "
                  + r.getBaseModel()
                  + ", sha256 "
                  + (r.getSha256() == null ? "-" : r.getSha256())
                  + "): "
                  + w);
      return 0;
    }
  }

  /** {@code lorastream adapters rm}. */
  @Command(
      name = "rm",
      mixinStandardHelpOptions = true,
      description =
          "Remove an adapter of yours (or a public one) by writing its tombstone; consumers drop"
              + " its loaded copies.")
  static final class Rm implements Callable<Integer> {
    @Spec CommandSpec spec;
    @Mixin Connection connection;

    @Option(
        names = "--tenant",
        required = true,
        description = "The adapter's owner (any tenant for a public adapter).")
    String tenant;

    @Option(names = "--id", required = true, description = "Adapter id.")
    String id;

    @Override
    public Integer call() {
      return guarded(spec, "rm", connection, this::rm);
    }

    private int rm() throws Exception {
      AdapterRegistration.checkNames(tenant, id);
      AdapterTopic topic = connection.topic();
      AdapterRecord before = topic.read().adapters().get(id);
      String refusal = CatalogOwnership.refuseRm(before, id, tenant);
      if (refusal != null) {
        spec.commandLine().getErr().println("adapters rm: " + refusal + "; nothing was written");
        return 1;
      }
      AdapterTopic.Written w = topic.write(id, null);
      spec.commandLine()
          .getOut()
          .println(
              "removed adapter " + id + " (" + AdapterTable.owner(before) + "): tombstone at " + w);
      return 0;
    }
  }

  /** {@code lorastream adapters ls}. */
  @Command(
      name = "ls",
      mixinStandardHelpOptions = true,
      description = "List registered adapters, sorted by id.")
  static final class Ls implements Callable<Integer> {
    @Spec CommandSpec spec;
    @Mixin Connection connection;

    @Option(names = "--tenant", description = "Only this tenant's own adapters and public ones.")
    String tenant;

    @Override
    public Integer call() {
      return guarded(spec, "ls", connection, this::ls);
    }

    private int ls() throws Exception {
      if (tenant != null) {
        AdapterRegistration.checkTenant(tenant);
      }
      AdapterTopic.Snapshot s = connection.topic().read();
      AdapterTable.list(s, tenant, spec.commandLine().getOut());
      AdapterTable.skipped(s, spec.commandLine().getErr(), "ls");
      return 0;
    }
  }

  /** {@code lorastream adapters show}. */
  @Command(
      name = "show",
      mixinStandardHelpOptions = true,
      description = "Print one adapter's record; exit code 1 when it is not registered.")
  static final class Show implements Callable<Integer> {
    @Spec CommandSpec spec;
    @Mixin Connection connection;

    @Option(names = "--id", required = true, description = "Adapter id.")
    String id;

    @Override
    public Integer call() {
      return guarded(spec, "show", connection, this::show);
    }

    private int show() throws Exception {
      AdapterRegistration.checkId(id);
      AdapterTopic.Snapshot s = connection.topic().read();
      AdapterTable.skipped(s, spec.commandLine().getErr(), "show");
      AdapterRecord r = s.adapters().get(id);
      if (r == null) {
        spec.commandLine()
            .getErr()
            .println("adapters show: " + id + " is not registered on " + Topics.ADAPTERS.name());
        return 1;
      }
      AdapterTable.show(r, spec.commandLine().getOut());
      return 0;
    }
  }
}
