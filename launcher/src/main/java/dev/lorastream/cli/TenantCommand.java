package dev.lorastream.cli;

import dev.lorastream.batcher.BatcherApp;
import dev.lorastream.batcher.TenantTopics;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.Callable;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.common.acl.AclBinding;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code lorastream tenant}: manages the tenants of topics tenancy ({@code batcher.tenancy=topics})
 * on a Kafka cluster, as an admin principal. {@code add} creates a tenant's topics and ACLs ({@link
 * TenantTopics}); the tenant's credentials (SCRAM user, PLAIN JAAS entry) are the operator's to
 * create.
 */
@Command(
    name = "tenant",
    mixinStandardHelpOptions = true,
    description = "Manage tenants of topics tenancy (topics and ACLs).",
    subcommands = {TenantCommand.Add.class, TenantCommand.Services.class})
public final class TenantCommand implements Runnable {

  @Spec CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(spec.commandLine().getOut());
  }

  /** {@code ACL ALLOW User:x WRITE on TOPIC t (LITERAL)}. */
  static String describe(AclBinding b) {
    return "ACL ALLOW "
        + b.entry().principal()
        + " "
        + b.entry().operation()
        + " on "
        + b.pattern().resourceType()
        + " "
        + b.pattern().name()
        + " ("
        + b.pattern().patternType()
        + ")";
  }

  /** Admin client settings: the properties of {@code commandConfig} (if any) and the servers. */
  static Map<String, Object> adminConfig(String bootstrap, Path commandConfig) throws IOException {
    Map<String, Object> config = new HashMap<>();
    if (commandConfig != null) {
      Properties p = new Properties();
      try (Reader r = Files.newBufferedReader(commandConfig)) {
        p.load(r);
      }
      p.stringPropertyNames().forEach(k -> config.put(k, p.getProperty(k)));
    }
    config.put("bootstrap.servers", bootstrap);
    return config;
  }

  /** {@code lorastream tenant services}: the ACLs of the service principals. */
  @Command(
      name = "services",
      mixinStandardHelpOptions = true,
      description =
          "Give the batcher, the inference consumers, the catalog administrator and the HTTP"
              + " gateway the ACLs of topics tenancy (see docs/operations.md#tenants). Safe to run"
              + " again.")
  static final class Services implements Callable<Integer> {
    @Spec CommandSpec spec;

    @Option(names = "--bootstrap-server", required = true, paramLabel = "HOST:PORT")
    String bootstrap;

    @Option(names = "--command-config", paramLabel = "FILE", description = "Admin login.")
    Path commandConfig;

    @Option(names = "--batcher", paramLabel = "PRINCIPAL", description = "e.g. User:batcher")
    String batcher;

    @Option(names = "--consumer", paramLabel = "PRINCIPAL", description = "e.g. User:consumer")
    String consumer;

    @Option(
        names = "--catalog-admin",
        paramLabel = "PRINCIPAL",
        description = "The principal that registers adapters (READ and WRITE on lora.adapters).")
    String catalogAdmin;

    @Option(
        names = "--gateway",
        paramLabel = "PRINCIPAL",
        description =
            "The HTTP gateway's principal (READ and WRITE on every tenant's topics, READ on"
                + " lora.adapters).")
    String gateway;

    @Option(
        names = "--application-id",
        defaultValue = BatcherApp.DEFAULT_APPLICATION_ID,
        description = "The batcher's application.id (default: ${DEFAULT-VALUE}).")
    String applicationId;

    @Option(
        names = "--consumer-group",
        defaultValue = "lora-consumers",
        description = "The inference consumers' group (default: ${DEFAULT-VALUE}).")
    String consumerGroup;

    @Override
    public Integer call() throws IOException {
      PrintWriter err = spec.commandLine().getErr();
      if (batcher == null && consumer == null && catalogAdmin == null && gateway == null) {
        err.println(
            "tenant services: name at least one of --batcher, --consumer, --catalog-admin,"
                + " --gateway");
        return 2;
      }
      List<AclBinding> acls =
          TenantTopics.serviceAcls(
              batcher, consumer, catalogAdmin, gateway, applicationId, consumerGroup);
      try (Admin admin = Admin.create(adminConfig(bootstrap, commandConfig))) {
        TenantTopics.setAcls(admin, acls);
      } catch (IllegalStateException e) {
        err.println("tenant services: " + e.getMessage());
        return 2;
      }
      PrintWriter out = spec.commandLine().getOut();
      acls.forEach(b -> out.println("services: " + describe(b)));
      out.flush();
      return 0;
    }
  }

  /** {@code lorastream tenant add NAME}. */
  @Command(
      name = "add",
      mixinStandardHelpOptions = true,
      description =
          "Create lora.tenant.NAME.requests, .replies, .stream, .cancel and .usage (compacted) and"
              + " give User:NAME LITERAL ACLs: WRITE on its requests and cancel topics, READ on its"
              + " replies, stream and usage topics and on group lora.tenant.NAME. Safe to run"
              + " again. Does not create the user's credentials.")
  static final class Add implements Callable<Integer> {
    @Spec CommandSpec spec;

    @Parameters(
        index = "0",
        paramLabel = "NAME",
        description = "Tenant name: [a-z0-9][a-z0-9-]{0,47}")
    String name;

    @Option(
        names = "--bootstrap-server",
        required = true,
        paramLabel = "HOST:PORT",
        description = "Kafka to connect to.")
    String bootstrap;

    @Option(
        names = "--command-config",
        paramLabel = "FILE",
        description =
            "Admin client properties: the login of a principal that may create topics and ACLs"
                + " (security.protocol, sasl.mechanism, sasl.jaas.config, ...).")
    Path commandConfig;

    @Option(
        names = "--partitions",
        defaultValue = "3",
        description = "Partitions of each topic (default: ${DEFAULT-VALUE}).")
    int partitions;

    @Option(
        names = "--replication-factor",
        defaultValue = "1",
        description = "Replicas of each topic (default: ${DEFAULT-VALUE}).")
    short replicationFactor;

    @Override
    public Integer call() throws IOException {
      PrintWriter out = spec.commandLine().getOut();
      try (Admin admin = Admin.create(adminConfig(bootstrap, commandConfig))) {
        TenantTopics.Added added = TenantTopics.add(admin, name, partitions, replicationFactor);
        added.createdTopics().forEach(t -> out.println("tenant " + name + ": created topic " + t));
        added
            .existingTopics()
            .forEach(t -> out.println("tenant " + name + ": topic " + t + " exists, kept"));
        added.acls().forEach(b -> out.println("tenant " + name + ": " + describe(b)));
        out.println(
            "tenant "
                + name
                + ": done; create the credentials of User:"
                + name
                + " yourself (e.g. kafka-configs.sh --alter --add-config"
                + " 'SCRAM-SHA-512=[password=...]' --entity-type users --entity-name "
                + name
                + ")");
        out.flush();
        return 0;
      } catch (IllegalArgumentException | IllegalStateException e) {
        spec.commandLine().getErr().println("tenant add: " + e.getMessage());
        return 2;
      }
    }
  }
}
