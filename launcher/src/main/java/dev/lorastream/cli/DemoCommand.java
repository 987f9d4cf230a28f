package dev.lorastream.cli;

import dev.lorastream.batcher.BatcherApp;
import dev.lorastream.batcher.BatcherConfig;
import dev.lorastream.consumer.ConsumerSettings;
import dev.lorastream.consumer.InferenceConsumer;
import dev.lorastream.devstack.EmbeddedKafka;
import dev.lorastream.devstack.RegistryProcess;
import dev.lorastream.gateway.Gateway;
import dev.lorastream.gateway.GatewayConfig;
import dev.lorastream.gateway.TenantKeys;
import dev.lorastream.ingest.LoraClient;
import dev.lorastream.ingest.LoraClientConfig;
import dev.lorastream.ingest.PromptTokenizer;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.MetricsServer;
import dev.lorastream.schemas.SamplingParams;
import dev.lorastream.schemas.Topic;
import dev.lorastream.schemas.Topics;
import dev.lorastream.schemas.registry.CompatibilityLevel;
import dev.lorastream.schemas.registry.RestSchemaRegistryClient;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.avro.specific.SpecificData;
import org.apache.avro.specific.SpecificRecord;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code lorastream demo}: the whole pipeline in one process on embedded defaults: a real Kafka
 * broker (KRaft, in-process), the {@code mock://} registry, the batcher, one CPU inference
 * consumer, and an upstream client sending mixed-tenant, mixed-adapter prompts; prints the replies
 * and a one-line summary.
 *
 * <p>With {@code --serve} the registry is a real one over HTTP (Apicurio, a child process, see
 * {@link RegistryProcess}) with the project's schemas registered, and after the demo the stack
 * stays up until the process is interrupted, so that any Kafka client can send requests, and any
 * OpenAI client through the HTTP {@link Gateway}: it prints one {@code key TENANT=KEY} line per
 * demo tenant (random API keys, new at each start), then one line {@code serving:
 * bootstrap=HOST:PORT registry=URL gateway=URL} on stdout when ready.
 */
@Command(
    name = "demo",
    mixinStandardHelpOptions = true,
    description = {
      "Run the whole pipeline in-process and print a table of replies.",
      "Plain demo: in-process mock:// registry, free ports. --serve: a real Apicurio registry over HTTP, then keeps"
          + " broker, registry, batcher, consumer and the OpenAI-compatible HTTP gateway up until"
          + " Ctrl-C (or SIGTERM), printing 'key TENANT=KEY' per tenant, then"
          + " 'serving: bootstrap=HOST:PORT registry=URL gateway=URL'."
    })
public final class DemoCommand implements Callable<Integer> {
  static final String FOREIGN = "foreign-request";
  static final int DEFAULT_BROKER_PORT = 9092;
  static final int DEFAULT_REGISTRY_PORT = 8081;
  static final int DEFAULT_GATEWAY_PORT = 8000;

  @Option(
      names = "--work",
      defaultValue = "build/demo",
      description = "folder for generated models and state")
  Path work;

  @Option(names = "--requests", defaultValue = "100")
  int requests;

  @Option(
      names = "--adapters",
      defaultValue = "16",
      description = "generated adapters besides the trained ones")
  int generated;

  @Option(
      names = "--max-tokens",
      description =
          "every request's maxTokens. Without it output lengths are mixed (S-LoRA style, scaled to"
              + " this CPU): each request's maxTokens drawn uniform in [8, 128) from its seed, and"
              + " the p50 latency of the shortest and the longest quartile is printed too")
  Integer maxTokens;

  @Option(
      names = "--serve",
      description = "after the demo, keep the stack up (real registry over HTTP) until interrupted")
  boolean serve;

  @Option(
      names = "--port",
      description =
          "Kafka broker port on localhost (default: "
              + DEFAULT_BROKER_PORT
              + " with --serve, else a free"
              + " one; 0 = a free one)")
  Integer brokerPort;

  @Option(
      names = "--registry-port",
      description =
          "--serve only: registry port on 127.0.0.1 (default "
              + DEFAULT_REGISTRY_PORT
              + "; 0 = a free one)")
  Integer registryPort;

  @Option(
      names = "--gateway-port",
      description =
          "--serve only: the OpenAI-compatible HTTP gateway's port on 127.0.0.1 (default "
              + DEFAULT_GATEWAY_PORT
              + "; 0 = a free one)")
  Integer gatewayPort;

  private final CountDownLatch stop = new CountDownLatch(1);
  private final CountDownLatch closed = new CountDownLatch(1);
  private volatile RegistryProcess registryProcess;

  @Override
  public Integer call() throws Exception {
    Thread hook = serve ? shutdownHook() : null;
    if (hook != null) {
      Runtime.getRuntime().addShutdownHook(hook);
    }
    try {
      return run();
    } finally {
      closed
          .countDown(); // everything is closed: the shutdown hook, if running, may let the JVM end
      if (hook != null) {
        try {
          Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException e) {
          // the JVM is shutting down: the hook is running
        }
      }
    }
  }

  private int run() throws Exception {
    int kafkaPort = brokerPort != null ? brokerPort : serve ? DEFAULT_BROKER_PORT : 0;
    if (registryPort != null && !serve) {
      throw new IllegalArgumentException(
          "--registry-port needs --serve (the plain demo uses the in-process mock://"
              + " registry)");
    }
    if (gatewayPort != null && !serve) {
      throw new IllegalArgumentException(
          "--gateway-port needs --serve (the plain demo starts no gateway)");
    }
    int srPort = registryPort != null ? registryPort : DEFAULT_REGISTRY_PORT;
    int gwPort = gatewayPort != null ? gatewayPort : DEFAULT_GATEWAY_PORT;
    checkPortFree("--port", "localhost", kafkaPort);
    if (serve) {
      checkPortFree("--registry-port", "127.0.0.1", srPort);
      checkPortFree("--gateway-port", "127.0.0.1", gwPort);
    }
    Path home = Path.of(System.getProperty("lorastream.home", ".")).toAbsolutePath().normalize();
    Path registryJar =
        Path.of(
            System.getProperty(
                "lorastream.registry.jar",
                home.resolve("registry/target/quarkus-app/quarkus-run.jar").toString()));
    if (serve && !RegistryProcess.available(registryJar)) {
      throw new IllegalStateException(
          "--serve needs the Apicurio registry runner at "
              + registryJar
              + ": build it with ./mvnw -f registry/pom.xml package -DskipTests");
    }
    System.err.println(
        "demo: embedded defaults: tenancy shared, one request topic ("
            + Topics.REQUESTS.name()
            + ") whose tenantId is trusted, no authentication (PLAINTEXT Kafka"
            + (serve ? ", plain HTTP registry" : ", mock:// registry")
            + "); tenants bound to Kafka logins: tenancy topics, docs/operations.md#tenants");
    DemoFixtures fx = DemoFixtures.prepare(home, home.resolve(work).normalize(), generated);
    System.err.println(
        "demo: model "
            + fx.modelDir()
            + ", "
            + fx.adapters().size()
            + " adapters for "
            + fx.tenants().size()
            + " tenants; starting Kafka"
            + (serve ? " and the schema registry..." : "..."));
    long start = System.nanoTime();
    try (EmbeddedKafka kafka = startKafka(kafkaPort);
        RegistryProcess sr =
            serve ? (registryProcess = RegistryProcess.start(registryJar, srPort)) : null) {
      String registry = serve ? sr.url() : "mock://demo-" + ProcessHandle.current().pid();
      if (serve) {
        registerSchemas(registry);
      }
      Map<String, Object> serde = Map.of("schema.registry.url", registry);
      DemoFixtures.createTopics(kafka.bootstrapServers());
      fx.publishAdapters(kafka.bootstrapServers(), serde);
      Properties bp = DemoFixtures.batcherProperties(kafka.bootstrapServers(), registry, "demo");
      if (serve) {
        bp.put(BatcherConfig.METRICS_PORT, "0"); // any free port, printed on the metrics: line
      }
      PrometheusMeterRegistry consumerMeters =
          new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
      try (BatcherApp batcher = BatcherApp.start(BatcherConfig.fromProperties(bp));
          InferenceConsumer consumer =
              new InferenceConsumer(
                  fx.consumerSettings(
                      kafka.bootstrapServers(), registry, "demo-consumer", Map.of()),
                  DemoFixtures.engineConfig(),
                  consumerMeters);
          PromptTokenizer tok = PromptTokenizer.load(fx.modelDir());
          LoraClient client =
              new LoraClient(
                  LoraClientConfig.of(kafka.bootstrapServers(), registry)
                      .withDefaultTimeout(Duration.ofSeconds(90)),
                  tok,
                  null)) {
        Thread serving =
            Thread.ofPlatform().name("consumer").start(() -> DemoFixtures.serve(consumer, "demo"));
        batcher.awaitRunning(Duration.ofSeconds(60));
        System.err.printf(
            "demo: pipeline up in %.1f s; sending %d requests%n",
            (System.nanoTime() - start) / 1e9, requests);
        List<DemoFixtures.Job> jobs = fx.jobs(requests);
        long t0 = System.nanoTime();
        List<CompletableFuture<InferenceResult>> futures = new ArrayList<>();
        long[] latencyMs = new long[jobs.size()]; // submit to reply seen by the client
        int[] maxTokensOf = new int[jobs.size()];
        for (int i = 0; i < jobs.size(); i++) {
          int k = i;
          maxTokensOf[k] = maxTokens(jobs.get(k));
          long sent = System.nanoTime();
          futures.add(
              client
                  .submit(request(jobs.get(k), maxTokensOf[k]))
                  .whenComplete((r, t) -> latencyMs[k] = (System.nanoTime() - sent) / 1_000_000));
        }
        CompletableFuture.allOf(
                futures.stream()
                    .map(f -> f.exceptionally(t -> null))
                    .toArray(CompletableFuture[]::new))
            .join();
        double secs = (System.nanoTime() - t0) / 1e9;
        int unexpected =
            DemoTable.print(
                System.out, jobs, futures, latencyMs, maxTokens == null ? maxTokensOf : null, secs);
        if (serve && unexpected == 0) {
          if (!serving.isAlive()) {
            throw new IllegalStateException("the inference consumer stopped; not serving");
          }
          String failed =
              serveUntilStopped(
                  kafka.bootstrapServers(),
                  registry,
                  fx,
                  home.resolve(work).normalize().resolve("gateway"),
                  gwPort,
                  batcher,
                  consumer,
                  consumerMeters,
                  serving);
          if (failed != null) {
            System.err.println("demo: stopped serving: " + failed);
            unexpected = -1;
          }
        } else if (serve) {
          System.err.println("demo: " + unexpected + " unexpected replies; not serving");
        }
        consumer.stop();
        serving.join(10_000);
        return unexpected == 0 ? 0 : 1;
      }
    }
  }

  /**
   * Starts the HTTP gateway with a random API key per demo tenant, prints the keys and the {@code
   * serving:} line and blocks until JVM shutdown (SIGINT, SIGTERM; see {@link #shutdownHook}) or
   * until a service fails: the batcher's Kafka Streams shut down ({@link BatcherApp#failure}) or
   * the consumer's poll loop ended.
   *
   * @return null when stopped by a signal, else what failed (the demo then exits non-zero)
   */
  private String serveUntilStopped(
      String bootstrap,
      String registry,
      DemoFixtures fx,
      Path gatewayData,
      int gatewayPort,
      BatcherApp batcher,
      InferenceConsumer consumer,
      PrometheusMeterRegistry consumerMeters,
      Thread serving)
      throws InterruptedException {
    if (stop.getCount() == 0) {
      return null; // interrupted during the demo
    }
    Map<String, String> keys = TenantKeys.randomKeys(fx.tenants());
    try (Gateway gateway =
            Gateway.start(
                GatewayConfig.of(bootstrap, registry, fx.modelDir(), TenantKeys.ofPlainKeys(keys))
                    .withAddress("127.0.0.1", gatewayPort)
                    .withBatch(GatewayConfig.Batch.in(gatewayData)));
        MetricsServer consumerMetrics =
            MetricsServer.start(
                consumerMeters, 0, ConsumerSettings.METRICS_PORT, consumer::healthy)) {
      for (var k : keys.entrySet()) {
        System.out.println("key " + k.getKey() + "=" + k.getValue());
      }
      // Prometheus' /metrics of each service (/health beside it); the gateway serves both on its
      // HTTP port
      System.out.println(
          "metrics: batcher=http://127.0.0.1:"
              + batcher.metricsPort()
              + "/metrics consumer=http://127.0.0.1:"
              + consumerMetrics.port()
              + "/metrics gateway="
              + gateway.url()
              + "/metrics");
      return awaitStop(bootstrap, registry, gateway.url(), batcher, serving);
    }
  }

  /** Prints the {@code serving:} line and waits as {@link #serveUntilStopped} says. */
  private String awaitStop(
      String bootstrap, String registry, String gatewayUrl, BatcherApp batcher, Thread serving)
      throws InterruptedException {
    AtomicReference<String> failed = new AtomicReference<>();
    batcher
        .failure()
        .thenAccept(
            why -> {
              failed.compareAndSet(null, "the batcher failed: " + why);
              stop.countDown();
            });
    Thread.ofPlatform()
        .daemon()
        .name("demo-consumer-watch")
        .start(
            () -> {
              try {
                serving.join();
                failed.compareAndSet(null, "the inference consumer stopped");
                stop.countDown();
              } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
              }
            });
    System.err.println(
        "demo: serving until interrupted (Ctrl-C); requests on "
            + Topics.REQUESTS.name()
            + ", replies on "
            + Topics.REPLIES.name()
            + ", adapters on "
            + Topics.ADAPTERS.name()
            + "; OpenAI-compatible HTTP API on "
            + gatewayUrl
            + "/v1 (docs/gateway.md)");
    System.out.println(
        "serving: bootstrap=" + bootstrap + " registry=" + registry + " gateway=" + gatewayUrl);
    System.out.flush();
    stop.await();
    return failed.get();
  }

  /**
   * For {@code --serve}: on SIGINT or SIGTERM, ends serving and waits (up to 60 s) until {@link
   * #call} has closed everything; then stops the registry process in any case, since the JVM does
   * not stop child processes itself.
   */
  private Thread shutdownHook() {
    return new Thread(
        () -> {
          System.err.println("demo: stopping...");
          stop.countDown();
          try {
            closed.await(60, TimeUnit.SECONDS);
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          }
          RegistryProcess r = registryProcess;
          if (r != null) {
            r.close();
          }
        },
        "demo-shutdown");
  }

  private static EmbeddedKafka startKafka(int port) throws Exception {
    if (port == 0) {
      return EmbeddedKafka.start();
    }
    return EmbeddedKafka.start(Files.createTempDirectory("lorastream-kafka"), port, true);
  }

  /**
   * Registers the value schema of every Avro topic under its subject ({@code <topic>-value}), with
   * BACKWARD compatibility (Apicurio's default is NONE), so that clients can look them up before
   * any record is written.
   */
  private static void registerSchemas(String url) {
    try (RestSchemaRegistryClient client = new RestSchemaRegistryClient(List.of(url))) {
      for (Topic<?, ?> t : Topics.all()) {
        if (SpecificRecord.class.isAssignableFrom(t.valueType())) {
          client.register(t.valueSubject(), SpecificData.get().getSchema(t.valueType()));
          client.setCompatibility(t.valueSubject(), CompatibilityLevel.BACKWARD);
        }
      }
    }
  }

  /** Fails with the option to change when {@code host:port} cannot be bound (0 always can). */
  static void checkPortFree(String option, String host, int port) {
    if (port < 0 || port > 65535) {
      throw new IllegalArgumentException(option + " " + port + " is out of range (0-65535)");
    }
    if (port == 0) {
      return;
    }
    try (ServerSocket s = new ServerSocket()) {
      s.bind(new InetSocketAddress(InetAddress.getByName(host), port));
    } catch (IOException e) {
      throw new IllegalStateException(
          "port "
              + port
              + " on "
              + host
              + " is taken ("
              + e.getMessage()
              + "): stop what uses it or choose another with "
              + option
              + " (0 = any free port)",
          e);
    }
  }

  /** The maxTokens of {@code j}: {@code --max-tokens}, else drawn from its seed. */
  private int maxTokens(DemoFixtures.Job j) {
    return maxTokens == null ? 8 + new SplittableRandom(j.seed()).nextInt(120) : maxTokens;
  }

  private InferenceRequest.Builder request(DemoFixtures.Job j, int maxTokens) {
    return InferenceRequest.newBuilder()
        .setRequestId(j.id())
        .setTenantId(j.tenant())
        .setAdapterId(j.adapter())
        .setPrompt(j.prompt())
        .setSampling(
            SamplingParams.newBuilder()
                .setMaxTokens(maxTokens)
                .setTemperature(0.7f)
                .setTopP(0.95f)
                .setSeed(j.seed())
                .build());
  }
}
