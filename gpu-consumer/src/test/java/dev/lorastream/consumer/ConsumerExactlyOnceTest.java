package dev.lorastream.consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.devstack.RegistryProcess;
import dev.lorastream.devstack.TestKafkaCluster;
import dev.lorastream.engine.testdata.AdapterGenerator;
import dev.lorastream.engine.testdata.ModelGenerator;
import dev.lorastream.schemas.AdapterRecord;
import dev.lorastream.schemas.InferenceBatch;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.SamplingParams;
import dev.lorastream.schemas.TenantUsage;
import dev.lorastream.schemas.Topics;
import dev.lorastream.schemas.UsageTopic;
import dev.lorastream.schemas.serde.AvroSerdeConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Kills the consumer process with SIGKILL mid-run and starts it again: every request is answered
 * exactly once as seen by a {@code read_committed} reader, also when the kill lands while half the
 * rows of several batches are answered (released on their own, ahead of their batch mates). Real
 * broker (Kafka's test kit), real registry (Apicurio, shared by the processes), the consumer as a
 * separate JVM.
 */
class ConsumerExactlyOnceTest {
  private static final int BATCHES = 30;
  private static final int PER_BATCH = 4;
  // enough work (120 requests x 200 tokens, 4 sequences a step) that the kill always lands mid-run
  private static final int MAX_TOKENS = 200;
  // mixed lengths: even rows short, odd rows near the tiny model's 512-token context
  private static final int MIXED_BATCHES = 8;
  private static final int SHORT_TOKENS = 4;
  private static final int LONG_TOKENS = 500;

  @TempDir Path tmp;

  @Test
  void aConsumerKilledMidRunLosesNothingAndDuplicatesNothing() throws Exception {
    Assumptions.assumeTrue(
        RegistryProcess.available(RegistryProcess.DEFAULT_JAR),
        "needs a schema registry shared by two processes: build registry/ (./mvnw -f registry/pom.xml package)");
    Path model = tmp.resolve("model");
    Path adapters = tmp.resolve("adapters");
    ModelGenerator.make("tiny", ModelGenerator.Options.defaults(), model);
    AdapterGenerator.make(model, 3, AdapterGenerator.Options.defaults().withRanks(8), adapters);
    try (TestKafkaCluster broker = TestKafkaCluster.start();
        RegistryProcess registry = RegistryProcess.start(RegistryProcess.DEFAULT_JAR)) {
      broker.createTopic(Topics.BATCHES.name(), 2, Map.of());
      broker.createTopic(Topics.REPLIES.name(), 1, Map.of());
      broker.createTopic(Topics.USAGE.name(), 1, Topics.USAGE.topicConfigs());
      broker.createTopic(Topics.ADAPTERS.name(), 1, Topics.ADAPTERS.topicConfigs());
      broker.createTopic(Topics.STREAM.name(), 1, Map.of());
      Map<String, Object> serde = Map.of(AvroSerdeConfig.SCHEMA_REGISTRY_URL, registry.url());
      publishAdapters(broker.bootstrapServers(), serde, adapters);
      List<String> ids =
          publishBatches(broker.bootstrapServers(), serde, BATCHES, (b, r) -> MAX_TOKENS);

      Map<String, Integer> seen = new ConcurrentHashMap<>();
      Map<String, Long> tokens = new ConcurrentHashMap<>();
      List<String> errors = new ArrayList<>();
      Thread reader =
          Thread.ofVirtual()
              .start(() -> readReplies(broker.bootstrapServers(), serde, seen, tokens, errors));
      Process first =
          startConsumer(broker.bootstrapServers(), registry.url(), model, adapters, "first", 4);
      waitUntil(() -> !seen.isEmpty(), 120, "first results from the first consumer");
      first.destroyForcibly().waitFor(); // SIGKILL: no shutdown hook, no clean close
      int atKill = seen.size();
      boolean exitedInTime;
      long exitMs;
      Process second =
          startConsumer(broker.bootstrapServers(), registry.url(), model, adapters, "second", 4);
      try {
        waitUntil(
            () -> seen.keySet().containsAll(ids), 180, "every request answered after the restart");
        Thread.sleep(2_000); // let any duplicate surface
      } finally {
        long t0 = System.nanoTime();
        second.destroy(); // SIGTERM: the shutdown hook stops and closes the consumer
        exitedInTime = second.waitFor(20, TimeUnit.SECONDS);
        exitMs = (System.nanoTime() - t0) / 1_000_000;
        reader.interrupt();
      }
      // the hook waits for the close, not for main (blocked in System.exit): it used to take 10 s
      assertTrue(exitedInTime && exitMs < 8_000, "SIGTERM to exit took " + exitMs + " ms");
      assertTrue(
          atKill < ids.size(),
          "the kill came mid-run (" + atKill + " of " + ids.size() + " answered)");
      for (String id : ids) {
        assertEquals(1, seen.get(id), id + " answered exactly once");
      }
      assertEquals(Set.copyOf(ids), seen.keySet());
      assertEquals(List.of(), errors);
      // the usage written in the same transactions counts each delivered result once: the second
      // consumer (same id) went on from the first's committed counts, not from zero or twice
      List<TenantUsage> usage =
          UsageTopic.read(
              Map.of("bootstrap.servers", broker.bootstrapServers()),
              serde,
              Duration.ofSeconds(30));
      assertEquals(
          ids.size(), usage.stream().mapToLong(TenantUsage::getRequests).sum(), "" + usage);
      assertEquals(0, usage.stream().mapToLong(TenantUsage::getErrors).sum());
      assertEquals(
          tokens.values().stream().mapToLong(Long::longValue).sum(),
          usage.stream().mapToLong(TenantUsage::getCompletionTokens).sum());
      assertTrue(usage.stream().allMatch(u -> u.getConsumerId().equals("c1")), "" + usage);
      // a request computed again by the second consumer streams it under a higher attempt
      var attempts = StreamChunks.attempts(StreamChunks.all(broker.bootstrapServers(), serde));
      var again = StreamChunks.recomputed(attempts);
      assertTrue(!again.isEmpty(), "the kill interrupted requests that stream again: " + attempts);
      for (String id : again) {
        List<Long> a = attempts.get(id);
        assertTrue(a.getFirst() < a.getLast(), id + " streamed attempts " + a);
      }
    }
  }

  @Test
  void aConsumerKilledWhileHalfTheRowsOfSeveralBatchesAreAnsweredAnswersOnlyTheRest()
      throws Exception {
    Assumptions.assumeTrue(
        RegistryProcess.available(RegistryProcess.DEFAULT_JAR),
        "needs a schema registry shared by two processes: build registry/ (./mvnw -f registry/pom.xml package)");
    Path model = tmp.resolve("model");
    Path adapters = tmp.resolve("adapters");
    ModelGenerator.make("tiny", ModelGenerator.Options.defaults(), model);
    AdapterGenerator.make(model, 3, AdapterGenerator.Options.defaults().withRanks(8), adapters);
    try (TestKafkaCluster broker = TestKafkaCluster.start();
        RegistryProcess registry = RegistryProcess.start(RegistryProcess.DEFAULT_JAR)) {
      broker.createTopic(Topics.BATCHES.name(), 2, Map.of());
      broker.createTopic(Topics.REPLIES.name(), 1, Map.of());
      broker.createTopic(Topics.USAGE.name(), 1, Topics.USAGE.topicConfigs());
      broker.createTopic(Topics.ADAPTERS.name(), 1, Topics.ADAPTERS.topicConfigs());
      Map<String, Object> serde = Map.of(AvroSerdeConfig.SCHEMA_REGISTRY_URL, registry.url());
      publishAdapters(broker.bootstrapServers(), serde, adapters);
      List<String> ids =
          publishBatches(
              broker.bootstrapServers(),
              serde,
              MIXED_BATCHES,
              (b, r) -> r % 2 == 0 ? SHORT_TOKENS : LONG_TOKENS);

      Map<String, Integer> seen = new ConcurrentHashMap<>();
      List<String> errors = new ArrayList<>();
      Thread reader =
          Thread.ofVirtual()
              .start(() -> readReplies(broker.bootstrapServers(), serde, seen, errors));
      // 8 seats: the 4 rows of the first 2 batches, then shorts of later batches as shorts leave.
      // The smallest metadata limit (16 bytes) holds 2 partly answered batches of 4 rows per
      // partition: the third is refused (put back, partition paused) until the first is answered.
      int metricsPort = freePort();
      List<String> tight = List.of("-D" + ConsumerSettings.OFFSET_METADATA_MAX_BYTES + "=16");
      List<String> tightWithMetrics =
          List.of(tight.getFirst(), "-D" + ConsumerSettings.METRICS_PORT + "=" + metricsPort);
      Process first =
          startConsumer(
              broker.bootstrapServers(),
              registry.url(),
              model,
              adapters,
              "first",
              8,
              tightWithMetrics);
      waitUntil(
          () -> partlyAnswered(seen).size() >= 3,
          120,
          "short replies of three batches whose long rows still run");
      double refused = counter(metricsPort, "lorastream_consumer_batches_refused_total");
      first.destroyForcibly().waitFor(); // SIGKILL: no shutdown hook, no clean close
      Thread.sleep(500); // what the killed consumer committed reaches the reader
      Set<Integer> partlyAtKill = partlyAnswered(seen);
      Process second =
          startConsumer(
              broker.bootstrapServers(), registry.url(), model, adapters, "second", 8, tight);
      try {
        waitUntil(
            () -> seen.keySet().containsAll(ids), 180, "every request answered after the restart");
        Thread.sleep(2_000); // let any duplicate surface
      } finally {
        second.destroy();
        second.waitFor(20, TimeUnit.SECONDS);
        reader.interrupt();
      }
      assertTrue(
          partlyAtKill.size() >= 2,
          "the kill came while several batches were half answered: " + partlyAtKill);
      assertTrue(refused >= 1, "batches were refused for want of metadata room: " + refused);
      for (String id : ids) {
        assertEquals(1, seen.get(id), id + " answered exactly once");
      }
      assertEquals(Set.copyOf(ids), seen.keySet());
      assertEquals(List.of(), errors);
    }
  }

  private static int freePort() throws java.io.IOException {
    try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  /** A counter's value on the consumer's Prometheus endpoint. */
  private static double counter(int port, String name) throws Exception {
    String body =
        java.net.http.HttpClient.newHttpClient()
            .send(
                java.net.http.HttpRequest.newBuilder(
                        java.net.URI.create("http://localhost:" + port + "/metrics"))
                    .build(),
                java.net.http.HttpResponse.BodyHandlers.ofString())
            .body();
    for (String line : body.split("\n")) {
      if (line.startsWith(name + " ") || line.startsWith(name + "{")) {
        return Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
      }
    }
    throw new AssertionError("no " + name + " on the consumer's /metrics:\n" + body);
  }

  /** The batches some but not all of whose rows the reader has seen. */
  private static Set<Integer> partlyAnswered(Map<String, Integer> seen) {
    Set<Integer> partly = new java.util.TreeSet<>();
    for (int b = 0; b < MIXED_BATCHES; b++) {
      int n = 0;
      for (int r = 0; r < PER_BATCH; r++) {
        n += seen.containsKey("req-" + b + "-" + r) ? 1 : 0;
      }
      if (n > 0 && n < PER_BATCH) {
        partly.add(b);
      }
    }
    return partly;
  }

  private static void publishAdapters(String bootstrap, Map<String, Object> serde, Path dir)
      throws Exception {
    try (KafkaProducer<String, AdapterRecord> p =
        new KafkaProducer<>(
            Map.of("bootstrap.servers", bootstrap),
            new StringSerializer(),
            Topics.ADAPTERS.valueSerde(serde).serializer())) {
      for (int i = 0; i < 3; i++) {
        Path a = dir.resolve(AdapterGenerator.adapterName(i));
        AdapterRecord rec =
            AdapterRecord.newBuilder()
                .setAdapterId(a.getFileName().toString())
                .setOwnerTenant("t1")
                .setSourceUri(a.toUri().toString())
                .setSha256(CatalogAdapterSource.sha256(a.resolve("adapter_model.safetensors")))
                .setRank(8)
                .setBaseModel("model") // the model folder's name: the default lorastream.model.name
                .setCreatedEpochMs(System.currentTimeMillis())
                .build();
        p.send(new ProducerRecord<>(Topics.ADAPTERS.name(), rec.getAdapterId(), rec)).get();
      }
    }
  }

  /**
   * Publishes {@code batches} batches of {@link #PER_BATCH} requests, alternately to the two
   * partitions.
   *
   * @param maxTokens the maxTokens of row r of batch b
   */
  private static List<String> publishBatches(
      String bootstrap,
      Map<String, Object> serde,
      int batches,
      java.util.function.IntBinaryOperator maxTokens)
      throws Exception {
    List<String> ids = new ArrayList<>();
    try (KafkaProducer<String, InferenceBatch> p =
        new KafkaProducer<>(
            Map.of("bootstrap.servers", bootstrap),
            new StringSerializer(),
            Topics.BATCHES.valueSerde(serde).serializer())) {
      for (int b = 0; b < batches; b++) {
        List<InferenceRequest> reqs = new ArrayList<>();
        for (int r = 0; r < PER_BATCH; r++) {
          String id = "req-" + b + "-" + r;
          ids.add(id);
          String adapter = r == 3 ? null : AdapterGenerator.adapterName((b + r) % 3);
          reqs.add(
              InferenceRequest.newBuilder()
                  .setRequestId(id)
                  .setTenantId("t1")
                  .setAdapterId(adapter)
                  .setPromptTokenIds(List.of(1, 40 + b, 50 + r, 60))
                  .setSampling(
                      SamplingParams.newBuilder().setMaxTokens(maxTokens.applyAsInt(b, r)).build())
                  .setCreatedEpochMs(System.currentTimeMillis())
                  .setStream(true) // its chunks show which attempt computed it
                  .build());
        }
        InferenceBatch batch =
            InferenceBatch.newBuilder()
                .setBatchId("batch-" + b)
                .setCreatedEpochMs(System.currentTimeMillis())
                .setRequests(reqs)
                .build();
        p.send(new ProducerRecord<>(Topics.BATCHES.name(), b % 2, batch.getBatchId(), batch)).get();
      }
    }
    return ids;
  }

  private static void readReplies(
      String bootstrap, Map<String, Object> serde, Map<String, Integer> seen, List<String> errors) {
    readReplies(bootstrap, serde, seen, new ConcurrentHashMap<>(), errors);
  }

  /**
   * @param tokens each result's completion tokens, by request id
   */
  private static void readReplies(
      String bootstrap,
      Map<String, Object> serde,
      Map<String, Integer> seen,
      Map<String, Long> tokens,
      List<String> errors) {
    try (KafkaConsumer<String, InferenceResult> c =
        new KafkaConsumer<>(
            Map.of(
                "bootstrap.servers", bootstrap,
                "group.id", "reply-reader",
                "isolation.level", "read_committed",
                "auto.offset.reset", "earliest"),
            new StringDeserializer(),
            Topics.REPLIES.valueSerde(serde).deserializer())) {
      c.subscribe(Set.of(Topics.REPLIES.name()));
      while (!Thread.currentThread().isInterrupted()) {
        for (ConsumerRecord<String, InferenceResult> r : c.poll(Duration.ofMillis(100))) {
          seen.merge(r.key(), 1, Integer::sum);
          tokens.put(r.key(), (long) r.value().getUsage().getCompletionTokens());
          if (r.value().getErrorCode() != null) {
            synchronized (errors) {
              errors.add(
                  r.key() + ": " + r.value().getErrorCode() + " " + r.value().getErrorMessage());
            }
          }
        }
      }
    } catch (org.apache.kafka.common.errors.InterruptException e) {
      // test over
    }
  }

  private Process startConsumer(
      String bootstrap, String registry, Path model, Path adapters, String name, int maxSeqs)
      throws Exception {
    return startConsumer(bootstrap, registry, model, adapters, name, maxSeqs, List.of());
  }

  /**
   * @param extra further {@code -D} options of the consumer JVM
   */
  private Process startConsumer(
      String bootstrap,
      String registry,
      Path model,
      Path adapters,
      String name,
      int maxSeqs,
      List<String> extra)
      throws Exception {
    String java = ProcessHandle.current().info().command().orElse("java");
    List<String> cmd = new ArrayList<>();
    cmd.addAll(
        List.of(
            java,
            "--add-modules",
            "jdk.incubator.vector",
            "--enable-native-access=ALL-UNNAMED",
            "-Xmx1g",
            "-cp",
            System.getProperty("java.class.path"),
            "-D" + ConsumerSettings.BOOTSTRAP + "=" + bootstrap,
            "-D" + ConsumerSettings.REGISTRY + "=" + registry,
            "-D" + ConsumerSettings.MODEL + "=" + model,
            "-D" + ConsumerSettings.ADAPTER_ROOTS + "=" + adapters,
            "-D" + ConsumerSettings.ID + "=c1",
            "-D" + ConsumerSettings.METRICS_PORT + "=0",
            "-Dlorastream.lora.max-loras=4",
            "-Dlorastream.step.max-seqs=" + maxSeqs));
    cmd.addAll(extra);
    cmd.add(ConsumerMain.class.getName());
    Path log = tmp.resolve("consumer-" + name + ".log");
    return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
  }

  private void waitUntil(java.util.function.BooleanSupplier cond, int seconds, String what)
      throws Exception {
    long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
    while (!cond.getAsBoolean()) {
      if (System.nanoTime() > end) {
        StringBuilder logs = new StringBuilder();
        try (var files = Files.list(tmp)) {
          for (Path f : files.filter(f -> f.toString().endsWith(".log")).toList()) {
            logs.append("\n--- ").append(f.getFileName()).append('\n').append(Files.readString(f));
          }
        }
        throw new AssertionError("timed out waiting for " + what + logs);
      }
      Thread.sleep(50);
    }
  }
}
