package dev.lorastream.cli;

import dev.lorastream.batcher.TenantTopics;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
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
    subcommands = {TenantCommand.Add.class})
public final class TenantCommand implements Runnable {

  @Spec CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(spec.commandLine().getOut());
  }

  /** {@code lorastream tenant add NAME}. */
  @Command(
      name = "add",
      mixinStandardHelpOptions = true,
      description =
          "Create lora.tenant.NAME.requests and lora.tenant.NAME.replies and give User:NAME"
              + " LITERAL ACLs: WRITE on its requests topic, READ on its replies topic and on group"
              + " lora.tenant.NAME. Safe to run again. Does not create the user's credentials.")
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
      Map<String, Object> config = new HashMap<>();
      if (commandConfig != null) {
        Properties p = new Properties();
        try (Reader r = Files.newBufferedReader(commandConfig)) {
          p.load(r);
        }
        p.stringPropertyNames().forEach(k -> config.put(k, p.getProperty(k)));
      }
      config.put("bootstrap.servers", bootstrap);
      try (Admin admin = Admin.create(config)) {
        TenantTopics.Added added = TenantTopics.add(admin, name, partitions, replicationFactor);
        added.createdTopics().forEach(t -> out.println("tenant " + name + ": created topic " + t));
        added
            .existingTopics()
            .forEach(t -> out.println("tenant " + name + ": topic " + t + " exists, kept"));
        for (AclBinding b : added.acls()) {
          out.println(
              "tenant "
                  + name
                  + ": ACL ALLOW "
                  + b.entry().principal()
                  + " "
                  + b.entry().operation()
                  + " on "
                  + b.pattern().resourceType()
                  + " "
                  + b.pattern().name()
                  + " ("
                  + b.pattern().patternType()
                  + ")");
        }
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
