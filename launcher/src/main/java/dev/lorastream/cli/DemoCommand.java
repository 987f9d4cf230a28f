package dev.lorastream.cli;

import dev.lorastream.batcher.BatcherApp;
import dev.lorastream.batcher.BatcherConfig;
import dev.lorastream.consumer.ConsumerSettings;
import dev.lorastream.consumer.InferenceConsumer;
import dev.lorastream.devstack.EmbeddedKafka;
import dev.lorastream.engine.sched.EngineConfig;
import dev.lorastream.ingest.LoraClient;
import dev.lorastream.ingest.LoraClientConfig;
import dev.lorastream.ingest.PromptTokenizer;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.SamplingParams;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code lorastream demo}: the whole pipeline in one process on embedded defaults: a real Kafka broker
 * (KRaft, in-process), the {@code mock://} registry, the batcher, one CPU inference consumer, and an upstream
 * client sending mixed-tenant, mixed-adapter prompts; prints the replies and a one-line summary.
 */
@Command(
    name = "demo",
    mixinStandardHelpOptions = true,
    description = "Run the whole pipeline in-process and print a table of replies.")
public final class DemoCommand implements Callable<Integer> {
  static final String FOREIGN = "foreign-request";

  @Option(names = "--work", defaultValue = "build/demo", description = "folder for generated models and state")
  Path work;

  @Option(names = "--requests", defaultValue = "100")
  int requests;

  @Option(names = "--adapters", defaultValue = "16", description = "generated adapters besides the trained ones")
  int generated;

  @Option(names = "--max-tokens", defaultValue = "40")
  int maxTokens;

  @Override
  public Integer call() throws Exception {
    Path home = Path.of(System.getProperty("lorastream.home", ".")).toAbsolutePath().normalize();
    DemoFixtures fx = DemoFixtures.prepare(home, home.resolve(work).normalize(), generated);
    System.err.println("demo: model " + fx.modelDir() + ", " + fx.adapters().size() + " adapters for "
        + fx.tenants().size() + " tenants; starting Kafka...");
    long start = System.nanoTime();
    try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
      String registry = "mock://demo-" + ProcessHandle.current().pid();
      Map<String, Object> serde = Map.of("schema.registry.url", registry);
      DemoFixtures.createTopics(kafka.bootstrapServers());
      fx.publishAdapters(kafka.bootstrapServers(), serde);
      Properties bp = new Properties();
      bp.put("bootstrap.servers", kafka.bootstrapServers());
      bp.put("schema.registry.url", registry);
      bp.put("state.dir", Files.createTempDirectory("lorastream-demo-batcher").toString());
      bp.put(BatcherConfig.METRICS_PORT, "-1");
      bp.put(BatcherConfig.MAX_WAIT_MS, "20");
      bp.put("commit.interval.ms", "50");
      try (BatcherApp batcher = BatcherApp.start(BatcherConfig.fromProperties(bp));
          InferenceConsumer consumer =
              new InferenceConsumer(
                  consumerSettings(kafka.bootstrapServers(), registry, fx),
                  engineConfig(),
                  new SimpleMeterRegistry());
          PromptTokenizer tok = PromptTokenizer.load(fx.modelDir());
          LoraClient client =
              new LoraClient(
                  LoraClientConfig.of(kafka.bootstrapServers(), registry).withDefaultTimeout(Duration.ofSeconds(90)),
                  tok,
                  null)) {
        Thread serving = Thread.ofPlatform().name("consumer").start(() -> serve(consumer));
        batcher.awaitRunning(Duration.ofSeconds(60));
        System.err.printf("demo: pipeline up in %.1f s; sending %d requests%n", (System.nanoTime() - start) / 1e9, requests);
        List<DemoFixtures.Job> jobs = fx.jobs(requests);
        long t0 = System.nanoTime();
        List<CompletableFuture<InferenceResult>> futures = new ArrayList<>();
        for (DemoFixtures.Job j : jobs) {
          futures.add(client.submit(request(j)));
        }
        CompletableFuture.allOf(futures.stream().map(f -> f.exceptionally(t -> null)).toArray(CompletableFuture[]::new))
            .join();
        double secs = (System.nanoTime() - t0) / 1e9;
        int unexpected = DemoTable.print(System.out, jobs, futures, secs);
        consumer.stop();
        serving.join(10_000);
        return unexpected == 0 ? 0 : 1;
      }
    }
  }

  private InferenceRequest.Builder request(DemoFixtures.Job j) {
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

  /** The engine's defaults (its step token budget included), with room for 48 sequences per step. */
  private static EngineConfig engineConfig() {
    EngineConfig d = EngineConfig.defaults();
    return d.withStep(d.maxTokensPerStep(), 48);
  }

  private static ConsumerSettings consumerSettings(String bootstrap, String registry, DemoFixtures fx) {
    return ConsumerSettings.from(
        Map.of(
            ConsumerSettings.BOOTSTRAP, bootstrap,
            ConsumerSettings.REGISTRY, registry,
            ConsumerSettings.MODEL, fx.modelDir().toString(),
            ConsumerSettings.ADAPTER_ROOTS, String.join(",", fx.adapterRoots().stream().map(Path::toString).toList()),
            ConsumerSettings.ID, "demo-consumer",
            ConsumerSettings.METRICS_PORT, "-1"));
  }

  private static void serve(InferenceConsumer consumer) {
    try {
      consumer.run();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (RuntimeException e) {
      System.err.println("demo: consumer failed: " + e);
    }
  }
}
