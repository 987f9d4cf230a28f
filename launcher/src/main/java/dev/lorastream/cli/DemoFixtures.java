package dev.lorastream.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lorastream.batcher.BatcherConfig;
import dev.lorastream.consumer.CatalogAdapterSource;
import dev.lorastream.consumer.ConsumerSettings;
import dev.lorastream.consumer.InferenceConsumer;
import dev.lorastream.engine.sched.EngineConfig;
import dev.lorastream.engine.testdata.AdapterGenerator;
import dev.lorastream.schemas.AdapterRecord;
import dev.lorastream.schemas.Topic;
import dev.lorastream.schemas.Topics;
import dev.lorastream.tools.MakeAdapters;
import dev.lorastream.tools.MakeModel;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.SplittableRandom;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;
import picocli.CommandLine;

/**
 * What the demo serves: the trained demo model with its style adapters when the repository has them
 * ({@code models/lorastream-demo}), else the generated tiny model; plus generated adapters for
 * scale, spread over three tenants (some public), and the workload of prompts.
 *
 * @param adapters adapter id → its owner tenant (null = public)
 * @param styles the trained style adapters, in table order (empty with the generated model)
 */
record DemoFixtures(
    Path modelDir,
    List<Path> adapterRoots,
    Map<String, Path> adapterDirs,
    Map<String, String> adapters,
    List<String> styles,
    List<String> tenants) {

  static final List<String> STYLE_ORDER = List.of("legal", "python", "shell", "docs");
  private static final String[] PROMPTS = {
    "The ", "def ", "# ", "This program ", "if [ ", "Copyright ", "import ", "You may "
  };

  /** A request of the workload; {@code expectedError} is the error code it must get, or null. */
  record Job(
      String id, String tenant, String adapter, String prompt, long seed, String expectedError) {}

  static DemoFixtures prepare(Path home, Path work, int generated) throws Exception {
    List<String> tenants = List.of("acme", "globex", "initech");
    Path trained = home.resolve("models/lorastream-demo");
    Map<String, Path> dirs = new LinkedHashMap<>();
    Map<String, String> owner = new LinkedHashMap<>();
    List<String> styles = new ArrayList<>();
    List<Path> roots = new ArrayList<>();
    Path model;
    if (STYLE_ORDER.stream()
        .allMatch(s -> Files.isDirectory(trained.resolve("adapters").resolve(s)))) {
      model = trained;
      roots.add(trained.resolve("adapters"));
      for (int i = 0; i < STYLE_ORDER.size(); i++) {
        String s = STYLE_ORDER.get(i);
        styles.add(s);
        dirs.put(s, trained.resolve("adapters").resolve(s));
        owner.put(s, tenants.get(i % tenants.size()));
      }
    } else {
      model = work.resolve("model");
      if (!Files.exists(model.resolve("config.json"))) {
        run(new MakeModel(), "--preset", "tiny", "--out", model.toString(), "--seed", "1");
      }
    }
    Path gen = work.resolve("adapters-" + model.getFileName());
    if (generated > 0
        && !Files.isDirectory(gen.resolve(AdapterGenerator.adapterName(generated - 1)))) {
      run(
          new MakeAdapters(),
          "--model",
          model.toString(),
          "--count",
          String.valueOf(generated),
          "--ranks",
          "4,8,16",
          "--out",
          gen.toString(),
          "--seed",
          "2");
    }
    roots.add(gen);
    for (int i = 0; i < generated; i++) {
      String id = AdapterGenerator.adapterName(i);
      dirs.put(id, gen.resolve(id));
      owner.put(id, i % 4 == 3 ? null : tenants.get(i % tenants.size()));
    }
    return new DemoFixtures(model, roots, dirs, owner, styles, tenants);
  }

  static void createTopics(String bootstrap) throws Exception {
    try (Admin admin = Admin.create(Map.of("bootstrap.servers", bootstrap))) {
      List<NewTopic> topics = new ArrayList<>();
      for (Topic<?, ?> t : Topics.all()) {
        topics.add(
            new NewTopic(t.name(), t.compacted() ? 1 : 2, (short) 1).configs(t.topicConfigs()));
      }
      admin.createTopics(topics).all().get();
    }
  }

  void publishAdapters(String bootstrap, Map<String, Object> serde) throws Exception {
    publishAdapters(Map.of("bootstrap.servers", bootstrap), serde);
  }

  /**
   * Registers every adapter on {@code lora.adapters}, with the producer settings {@code kafka}
   * (bootstrap servers and, on a secured cluster, the catalog administrator's login).
   */
  void publishAdapters(Map<String, Object> kafka, Map<String, Object> serde) throws Exception {
    ObjectMapper json = new ObjectMapper();
    try (KafkaProducer<String, AdapterRecord> p =
        new KafkaProducer<>(
            kafka, new StringSerializer(), Topics.ADAPTERS.valueSerde(serde).serializer())) {
      for (var e : adapterDirs.entrySet()) {
        Path dir = e.getValue();
        int rank = json.readTree(dir.resolve("adapter_config.json").toFile()).get("r").asInt();
        AdapterRecord rec =
            AdapterRecord.newBuilder()
                .setAdapterId(e.getKey())
                .setOwnerTenant(adapters.get(e.getKey()))
                .setSourceUri(dir.toUri().toString())
                .setSha256(CatalogAdapterSource.sha256(dir.resolve("adapter_model.safetensors")))
                .setRank(rank)
                .setBaseModel(modelDir.getFileName().toString())
                .setSizeBytes(Files.size(dir.resolve("adapter_model.safetensors")))
                .setCreatedEpochMs(System.currentTimeMillis())
                .build();
        p.send(new ProducerRecord<>(Topics.ADAPTERS.name(), rec.getAdapterId(), rec));
      }
      p.flush();
    }
  }

  /**
   * The workload: first the same prompts through every style adapter (so the table shows them side
   * by side), then a mix over tenants, their own and public adapters and the base model, and one
   * request for another tenant's adapter (which must be refused).
   */
  List<Job> jobs(int count) {
    List<Job> jobs = new ArrayList<>();
    String[] stylePrompts = {"c", "d", "s"}; // word starts: each style continues them its own way
    for (String p : stylePrompts) {
      for (String s : styles) {
        if (jobs.size() < count - 1) {
          jobs.add(new Job("style-" + jobs.size(), adapters.get(s), s, p, 7, null));
        }
      }
    }
    SplittableRandom rnd = new SplittableRandom(42);
    List<String> ids = new ArrayList<>(adapters.keySet());
    while (jobs.size() < count - 1) {
      String tenant = tenants.get(rnd.nextInt(tenants.size()));
      String adapter = null;
      if (rnd.nextInt(5) != 0) {
        List<String> usable =
            ids.stream()
                .filter(a -> adapters.get(a) == null || adapters.get(a).equals(tenant))
                .toList();
        adapter = usable.get(rnd.nextInt(usable.size()));
      }
      jobs.add(
          new Job(
              "req-" + jobs.size(),
              tenant,
              adapter,
              PROMPTS[rnd.nextInt(PROMPTS.length)],
              rnd.nextLong(),
              null));
    }
    String foreignAdapter =
        ids.stream().filter(a -> "acme".equals(adapters.get(a))).findFirst().orElseThrow();
    jobs.add(
        new Job(DemoCommand.FOREIGN, "globex", foreignAdapter, "The ", 1, "ADAPTER_FORBIDDEN"));
    return jobs;
  }

  private static void run(Object cmd, String... args) {
    if (new CommandLine(cmd).execute(args) != 0) {
      throw new IllegalStateException("failed: " + String.join(" ", args));
    }
  }

  /**
   * The in-process stack's engine config (demo, bench pipeline): the engine's defaults (its step
   * token budget included), with room for 48 sequences per step.
   */
  static EngineConfig engineConfig() {
    EngineConfig d = EngineConfig.defaults();
    return d.withStep(d.maxTokensPerStep(), 48);
  }

  /**
   * The settings of the in-process stack's inference consumer (demo, bench pipeline): this
   * fixture's model and adapter roots, no metrics port, the sequences per step of {@link
   * #engineConfig} (so batches in flight default to it); {@code extra} adds or overrides keys.
   */
  ConsumerSettings consumerSettings(
      String bootstrap, String registry, String id, Map<String, String> extra) {
    Map<String, String> m =
        new HashMap<>(
            Map.of(
                ConsumerSettings.BOOTSTRAP,
                bootstrap,
                ConsumerSettings.REGISTRY,
                registry,
                ConsumerSettings.MODEL,
                modelDir().toString(),
                ConsumerSettings.ADAPTER_ROOTS,
                String.join(",", adapterRoots().stream().map(Path::toString).toList()),
                ConsumerSettings.ID,
                id,
                ConsumerSettings.METRICS_PORT,
                "-1",
                EngineConfig.STEP_MAX_SEQS,
                String.valueOf(engineConfig().maxSeqs())));
    m.putAll(extra);
    return ConsumerSettings.from(m);
  }

  /**
   * The Kafka Streams properties of the in-process stack's batcher (demo, bench pipeline): 20 ms
   * max wait, 20 ms commit interval, no metrics port, a fresh state folder named after {@code who}.
   */
  static Properties batcherProperties(String bootstrap, String registry, String who)
      throws IOException {
    Properties bp = new Properties();
    bp.put("bootstrap.servers", bootstrap);
    bp.put("schema.registry.url", registry);
    bp.put("state.dir", Files.createTempDirectory("lorastream-" + who + "-batcher").toString());
    bp.put(BatcherConfig.METRICS_PORT, "-1");
    bp.put(BatcherConfig.MAX_WAIT_MS, "20");
    bp.put("commit.interval.ms", "20");
    return bp;
  }

  /** Runs {@code consumer}'s poll loop until it stops; a failure is printed after {@code who}. */
  static void serve(InferenceConsumer consumer, String who) {
    try {
      consumer.run();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (RuntimeException e) {
      System.err.println(who + ": consumer failed: " + e);
    }
  }
}
