package dev.lorastream.cli.chaos;

import dev.lorastream.batcher.BatcherMain;
import dev.lorastream.consumer.ConsumerMain;
import dev.lorastream.consumer.ConsumerSettings;
import dev.lorastream.devstack.BrokerMain;
import dev.lorastream.devstack.EmbeddedKafka;
import dev.lorastream.devstack.RegistryProcess;
import dev.lorastream.engine.ops.cpu.CpuOps;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import org.apache.kafka.clients.admin.Admin;

/**
 * The services of the chaos run, each its own JVM on loopback: a KRaft broker ({@link BrokerMain}),
 * the batcher ({@link BatcherMain}) and two inference consumers ({@link ConsumerMain}); the
 * registry is a {@link dev.lorastream.devstack.RegistryProcess} started by the caller. Ports, ids
 * and data folders are fixed at construction, so that a restarted service is the same one (the
 * broker reopens its log, a consumer rejoins as the same static member).
 *
 * <p>Child JVMs share a class-data archive per role ({@code -XX:+AutoCreateSharedArchive}): the
 * first start writes it, restarts map it, which cuts their class loading.
 */
final class ChaosStack {
  static final List<String> CONSUMER_IDS = List.of("chaos-c1", "chaos-c2");

  private final Path work;
  private final String registry;
  private final int brokerPort = EmbeddedKafka.freePort();
  private final int controllerPort = EmbeddedKafka.freePort();
  private final Map<String, Integer> healthPorts = new LinkedHashMap<>();
  private final HttpClient http =
      HttpClient.newBuilder().connectTimeout(Duration.ofMillis(500)).build();
  final ChildProcess broker;
  final ChildProcess batcher;
  final List<ChildProcess> consumers = new ArrayList<>();

  ChaosStack(Path work, String registry, Path model, List<Path> adapterRoots) {
    this(work, registry, model, adapterRoots, CONSUMER_IDS, false);
  }

  /**
   * A stack with the consumers {@code consumerIds}.
   *
   * @param bounded each consumer computes on one core: one engine thread ({@code
   *     lorastream.cpu.threads=1}), a JVM that sees one processor, and, where {@code taskset}
   *     exists, pinned to core {@code i mod cores} (consumer {@code i} in the list)
   */
  ChaosStack(
      Path work,
      String registry,
      Path model,
      List<Path> adapterRoots,
      List<String> consumerIds,
      boolean bounded) {
    this.work = work;
    this.registry = registry;
    Path logs = work.resolve("logs");
    broker =
        new ChildProcess(
            "broker",
            java(
                "broker",
                "-Xmx512m",
                BrokerMain.class.getName(),
                work.resolve("kafka").toString(),
                String.valueOf(brokerPort),
                String.valueOf(controllerPort)),
            Map.of(),
            logs.resolve("broker.log"));
    int batcherHealth = EmbeddedKafka.freePort();
    healthPorts.put("batcher", batcherHealth);
    batcher =
        new ChildProcess(
            "batcher",
            java("batcher", "-Xmx384m", BatcherMain.class.getName()),
            Map.of(
                "KAFKA_BOOTSTRAP_SERVERS",
                bootstrap(),
                "SCHEMA_REGISTRY_URL",
                registry,
                "KAFKA_STATE_DIR",
                work.resolve("batcher-state").toString(),
                "KAFKA_COMMIT_INTERVAL_MS",
                "100",
                // static membership, as for the consumers: without it a restarted batcher waits
                // in a rebalance until its killed self's session times out (45 s), while
                // /health reports UP (REBALANCING counts as up)
                "KAFKA_GROUP_INSTANCE_ID",
                "chaos-batcher",
                "BATCHER_METRICS_PORT",
                String.valueOf(batcherHealth),
                "BATCHER_MAX_WAIT_MS",
                "20",
                "BATCHER_MAX_BATCH_REQUESTS",
                "8"),
            logs.resolve("batcher.log"));
    int cores = Runtime.getRuntime().availableProcessors();
    for (int c = 0; c < consumerIds.size(); c++) {
      final int i = c;
      String id = consumerIds.get(i);
      int port = EmbeddedKafka.freePort();
      healthPorts.put(id, port);
      List<String> command = new ArrayList<>();
      List<String> args = new ArrayList<>();
      if (bounded) {
        TASKSET.ifPresent(
            t -> command.addAll(List.of(t.toString(), "-c", String.valueOf(i % cores))));
        args.addAll(List.of("-XX:ActiveProcessorCount=1", "-D" + CpuOps.THREADS + "=1"));
      }
      args.addAll(
          List.of(
              "-Xmx512m",
              "-D" + ConsumerSettings.BOOTSTRAP + "=" + bootstrap(),
              "-D" + ConsumerSettings.REGISTRY + "=" + registry,
              "-D" + ConsumerSettings.MODEL + "=" + model,
              "-D"
                  + ConsumerSettings.ADAPTER_ROOTS
                  + "="
                  + String.join(",", adapterRoots.stream().map(Path::toString).toList()),
              "-D" + ConsumerSettings.ID + "=" + id,
              "-D" + ConsumerSettings.METRICS_PORT + "=" + port,
              ConsumerMain.class.getName()));
      command.addAll(java("consumer", args.toArray(String[]::new)));
      consumers.add(new ChildProcess(id, command, Map.of(), logs.resolve(id + ".log")));
    }
  }

  /** {@code taskset} (util-linux), when this machine has it. */
  static final java.util.Optional<Path> TASKSET =
      java.util.stream.Stream.of("/usr/bin/taskset", "/bin/taskset")
          .map(Path::of)
          .filter(java.nio.file.Files::isExecutable)
          .findFirst();

  /** The {@code /metrics} URL of the batcher or a consumer. */
  URI metrics(String name) {
    return URI.create("http://127.0.0.1:" + healthPorts.get(name) + "/metrics");
  }

  /**
   * The value of each sample of {@code /metrics} of {@code name} whose line starts with one of
   * {@code names} (a name without labels); a name it lacks is missing from the map.
   */
  Map<String, Double> scrape(String name, List<String> names) {
    Map<String, Double> out = new LinkedHashMap<>();
    try {
      String text =
          http.send(
                  HttpRequest.newBuilder(metrics(name)).timeout(Duration.ofSeconds(5)).build(),
                  HttpResponse.BodyHandlers.ofString())
              .body();
      for (String line : text.split("\n")) {
        for (String n : names) {
          if (line.startsWith(n + " ")) {
            out.put(n, Double.parseDouble(line.substring(n.length() + 1).trim()));
          }
        }
      }
    } catch (IOException e) {
      // not serving: nothing
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    return out;
  }

  String bootstrap() {
    return "localhost:" + brokerPort;
  }

  String registry() {
    return registry;
  }

  /** The child whose name is {@code name}. */
  ChildProcess service(String name) {
    if (name.equals("broker")) {
      return broker;
    }
    if (name.equals("batcher")) {
      return batcher;
    }
    return consumers.stream().filter(c -> c.name().equals(name)).findFirst().orElseThrow();
  }

  /**
   * Starts {@code name} and waits until it serves: the broker when it printed its {@code serving:}
   * line and answers a metadata request; the batcher and a consumer when their {@code /health}
   * answers 200 (batcher: Kafka Streams running and making progress; consumer: the poll loop runs,
   * so the catalog has caught up and it has joined the group).
   */
  void startAndAwait(String name, long timeoutMs) throws IOException, InterruptedException {
    service(name).start();
    await(name, timeoutMs);
  }

  /** Waits until the started service {@code name} serves (see {@link #startAndAwait}). */
  void await(String name, long timeoutMs) throws InterruptedException {
    ChildProcess c = service(name);
    if (name.equals("broker")) {
      c.awaitReady(() -> c.printed("serving: ") && brokerAnswers(), timeoutMs);
    } else {
      int port = healthPorts.get(name);
      c.awaitReady(() -> healthy(port), timeoutMs);
    }
  }

  private boolean brokerAnswers() {
    try (Admin admin =
        Admin.create(
            Map.of(
                "bootstrap.servers", bootstrap(),
                "request.timeout.ms", 2000,
                "default.api.timeout.ms", 3000))) {
      return !admin.describeCluster().nodes().get().isEmpty();
    } catch (Exception e) {
      return false;
    }
  }

  private boolean healthy(int port) {
    try {
      HttpResponse<Void> r =
          http.send(
              HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/health"))
                  .timeout(Duration.ofMillis(1000))
                  .build(),
              HttpResponse.BodyHandlers.discarding());
      return r.statusCode() == 200;
    } catch (IOException e) {
      return false;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }

  /** Stops every service, consumers first, the broker last (SIGTERM, then SIGKILL). */
  void stopAll() throws InterruptedException {
    for (ChildProcess c : consumers) {
      c.stop(15);
    }
    batcher.stop(15);
    broker.stop(20);
  }

  /** A java command line for a child: this JVM's binary and class path, the project's flags. */
  private List<String> java(String role, String... args) {
    List<String> cmd = new ArrayList<>();
    cmd.add(ProcessHandle.current().info().command().orElse("java"));
    cmd.addAll(
        List.of(
            "--add-modules",
            "jdk.incubator.vector",
            "--enable-native-access=ALL-UNNAMED",
            "--sun-misc-unsafe-memory-access=allow",
            "-XX:+UseSerialGC",
            // C1 only for the broker and the batcher: they start sooner and take less CPU from the
            // consumers, whose model code needs C2
            role.equals("consumer") ? "-XX:+TieredCompilation" : "-XX:TieredStopAtLevel=1",
            "-XX:+AutoCreateSharedArchive",
            "-XX:SharedArchiveFile=" + work.resolve("cds").resolve(role + ".jsa"),
            "-Xlog:cds=off",
            "-cp",
            System.getProperty("java.class.path")));
    cmd.addAll(List.of(args));
    return cmd;
  }

  /**
   * The Apicurio registry runner for {@code command}: {@code option}, else {@code
   * -Dlorastream.registry.jar}, else the one the build makes under {@code home}.
   *
   * @throws IllegalStateException saying how to build it, when it is not there
   */
  static Path registryJar(Path option, Path home, String command) {
    Path jar =
        option != null
            ? option
            : Path.of(
                System.getProperty(
                    "lorastream.registry.jar",
                    home.resolve("registry/target/quarkus-app/quarkus-run.jar").toString()));
    if (!RegistryProcess.available(jar)) {
      throw new IllegalStateException(
          command
              + " needs the Apicurio registry runner at "
              + jar
              + ": build it with ./mvnw -f registry/pom.xml package -DskipTests");
    }
    return jar;
  }

  /**
   * Clears what an earlier run left in {@code work} (the broker's log, the batcher's state, the
   * logs) and makes the class-data archives' folder; the generated model and adapters stay.
   */
  static void clearEarlierRun(Path work) throws IOException {
    for (String stale : List.of("kafka", "kafka.properties", "batcher-state", "logs")) {
      Path p = work.resolve(stale);
      if (Files.exists(p)) {
        try (Stream<Path> walk = Files.walk(p)) {
          for (Path q : walk.sorted(Comparator.reverseOrder()).toList()) {
            Files.deleteIfExists(q);
          }
        }
      }
    }
    Files.createDirectories(work.resolve("cds"));
  }

  /**
   * Runs {@code body} with a shutdown hook that kills this JVM's child processes (on Ctrl-C or
   * SIGTERM the JVM does not stop them itself), removed when {@code body} returns.
   */
  static <T> T reapingChildren(String name, Callable<T> body) throws Exception {
    Thread reaper =
        new Thread(
            () -> ProcessHandle.current().descendants().forEach(ProcessHandle::destroyForcibly),
            name);
    Runtime.getRuntime().addShutdownHook(reaper);
    try {
      return body.call();
    } finally {
      try {
        Runtime.getRuntime().removeShutdownHook(reaper);
      } catch (IllegalStateException e) {
        // the JVM is shutting down: the hook runs
      }
    }
  }
}
