package dev.lorastream.consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.devstack.TestKafkaCluster;
import dev.lorastream.engine.backends.Backends;
import dev.lorastream.engine.lora.LoraAdapter;
import dev.lorastream.engine.model.LlamaModel;
import dev.lorastream.engine.model.LoadedModel;
import dev.lorastream.engine.model.ModelLoader;
import dev.lorastream.engine.ops.Ops;
import dev.lorastream.engine.sched.Engine;
import dev.lorastream.engine.sched.EngineConfig;
import dev.lorastream.engine.sched.GenerationRequest;
import dev.lorastream.engine.sched.GenerationResult;
import dev.lorastream.engine.testdata.AdapterGenerator;
import dev.lorastream.engine.testdata.ModelGenerator;
import dev.lorastream.schemas.AdapterCatalogRule;
import dev.lorastream.schemas.AdapterRecord;
import dev.lorastream.schemas.InferenceBatch;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.SamplingParams;
import dev.lorastream.schemas.Topic;
import dev.lorastream.schemas.Topics;
import dev.lorastream.schemas.registry.MockSchemaRegistry;
import dev.lorastream.schemas.serde.AvroDecodeException;
import dev.lorastream.schemas.serde.AvroSerdeConfig;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The consumer's adapter catalog on a real broker (Kafka's test kit) with the {@code mock://}
 * registry. Before the fix one undecodable {@code lora.adapters} record killed the catalog thread
 * for good: every adapter registered after it was refused with UNKNOWN_ADAPTER, and {@code /health}
 * stayed UP.
 */
class AdapterCatalogBrokerTest {
  static final String SCOPE = "consumer-adapter-catalog-test";
  static final Map<String, Object> SERDE =
      Map.of(AvroSerdeConfig.SCHEMA_REGISTRY_URL, MockSchemaRegistry.URL_PREFIX + SCOPE);

  @TempDir Path tmp;

  @AfterEach
  void dropScope() {
    MockSchemaRegistry.dropScope(SCOPE);
  }

  @Test
  void anUndecodableCatalogRecordIsSkippedCountedAndTheNextAdapterIsServed() throws Exception {
    Path model = tmp.resolve("model");
    Path adapters = tmp.resolve("adapters");
    ModelGenerator.make("tiny", ModelGenerator.Options.defaults(), model);
    AdapterGenerator.make(model, 1, AdapterGenerator.Options.defaults().withRanks(8), adapters);
    Path a0 = adapters.resolve(AdapterGenerator.adapterName(0));
    try (TestKafkaCluster broker = TestKafkaCluster.start()) {
      createTopics(broker);
      String bootstrap = broker.bootstrapServers();
      putRaw(bootstrap, "broken", "{\"adapterId\":\"broken\"}".getBytes(StandardCharsets.UTF_8));
      put(bootstrap, record("a0", a0, 1L));

      ConsumerSettings settings =
          ConsumerSettings.from(
              Map.of(
                  ConsumerSettings.BOOTSTRAP,
                  bootstrap,
                  ConsumerSettings.REGISTRY,
                  (String) SERDE.get(AvroSerdeConfig.SCHEMA_REGISTRY_URL),
                  ConsumerSettings.MODEL,
                  model.toString(),
                  ConsumerSettings.ADAPTER_ROOTS,
                  adapters.toString(),
                  ConsumerSettings.ID,
                  "c1",
                  ConsumerSettings.METRICS_PORT,
                  "-1"));
      SimpleMeterRegistry meters = new SimpleMeterRegistry();
      AtomicReference<Throwable> failed = new AtomicReference<>();
      try (InferenceConsumer consumer =
              new InferenceConsumer(settings, EngineConfig.defaults().withKvBlocks(32), meters);
          KafkaProducer<String, InferenceBatch> batches =
              new KafkaProducer<>(
                  Map.of("bootstrap.servers", bootstrap),
                  new StringSerializer(),
                  Topics.BATCHES.valueSerde(SERDE).serializer())) {
        Thread serving =
            Thread.ofPlatform()
                .name("consumer")
                .start(
                    () -> {
                      try {
                        consumer.run();
                      } catch (Throwable t) {
                        failed.set(t);
                      }
                    });
        try {
          InferenceBatch b =
              InferenceBatch.newBuilder()
                  .setBatchId("b1")
                  .setCreatedEpochMs(System.currentTimeMillis())
                  .setRequests(List.of(request("r1", "a0")))
                  .build();
          batches.send(new ProducerRecord<>(Topics.BATCHES.name(), "b1", b)).get();
          InferenceResult r = readReply(bootstrap);
          assertEquals("r1", r.getRequestId());
          assertNull(r.getErrorCode(), r.getErrorMessage());
          assertEquals(3, r.getTokenIds().size());
          assertEquals(
              1.0, meters.get("lorastream.consumer.catalog.skipped").functionCounter().count());
          assertTrue(consumer.healthy(), "/health: the catalog reader survived the bad record");
        } finally {
          consumer.stop();
          serving.join(10_000);
        }
        assertNull(failed.get(), () -> "consumer failed: " + failed.get());
      }
    }
  }

  @Test
  void aReRegisteredAdapterIsServedWithItsNewWeights() throws Exception {
    Path model = tmp.resolve("model");
    ModelGenerator.make("tiny", ModelGenerator.Options.defaults(), model);
    Path adapters = tmp.resolve("adapters");
    AdapterGenerator.make(
        model,
        1,
        AdapterGenerator.Options.defaults().withRanks(8).withSeed(1),
        adapters.resolve("v1"));
    AdapterGenerator.make(
        model,
        1,
        AdapterGenerator.Options.defaults().withRanks(8).withSeed(2),
        adapters.resolve("v2"));
    Path v1 = adapters.resolve("v1").resolve(AdapterGenerator.adapterName(0));
    Path v2 = adapters.resolve("v2").resolve(AdapterGenerator.adapterName(0));
    EngineConfig ec = EngineConfig.defaults().withKvBlocks(32);
    List<Integer> old = expectedTokens(model, v1, ec);
    List<Integer> fresh = expectedTokens(model, v2, ec);
    assertFalse(old.equals(fresh), "the two versions generate different tokens");
    String backend = System.getProperty(Backends.PROPERTY);
    System.setProperty(Backends.PROPERTY, "cpu"); // the backend expectedTokens ran on
    try (TestKafkaCluster broker = TestKafkaCluster.start()) {
      createTopics(broker);
      String bootstrap = broker.bootstrapServers();
      put(bootstrap, record("a0", v1, 1L));
      ConsumerSettings settings =
          ConsumerSettings.from(
              Map.of(
                  ConsumerSettings.BOOTSTRAP,
                  bootstrap,
                  ConsumerSettings.REGISTRY,
                  (String) SERDE.get(AvroSerdeConfig.SCHEMA_REGISTRY_URL),
                  ConsumerSettings.MODEL,
                  model.toString(),
                  ConsumerSettings.ADAPTER_ROOTS,
                  adapters.toString(),
                  ConsumerSettings.ID,
                  "c1",
                  ConsumerSettings.METRICS_PORT,
                  "-1"));
      AtomicReference<Throwable> failed = new AtomicReference<>();
      try (InferenceConsumer consumer =
              new InferenceConsumer(settings, ec, new SimpleMeterRegistry());
          KafkaProducer<String, InferenceBatch> batches =
              new KafkaProducer<>(
                  Map.of("bootstrap.servers", bootstrap),
                  new StringSerializer(),
                  Topics.BATCHES.valueSerde(SERDE).serializer())) {
        Thread serving =
            Thread.ofPlatform()
                .name("consumer")
                .start(
                    () -> {
                      try {
                        consumer.run();
                      } catch (Throwable t) {
                        failed.set(t);
                      }
                    });
        try {
          assertEquals(old, serve(batches, bootstrap, "before"), "v1 is served");
          put(bootstrap, record("a0", v2, 2L)); // re-registered with other weights
          // The catalog reads the new record within a poll or two; until then v1 is still right.
          List<Integer> after = old;
          for (int i = 0; i < 20 && after.equals(old); i++) {
            after = serve(batches, bootstrap, "after-" + i);
          }
          assertEquals(fresh, after, "after the change: exactly a fresh engine's v2 tokens");
        } finally {
          consumer.stop();
          serving.join(10_000);
        }
        assertNull(failed.get(), () -> "consumer failed: " + failed.get());
      }
    } finally {
      if (backend == null) {
        System.clearProperty(Backends.PROPERTY);
      } else {
        System.setProperty(Backends.PROPERTY, backend);
      }
    }
  }

  /** What a fresh CPU engine generates for {@link #request} with adapter "a0" read from dir. */
  private static List<Integer> expectedTokens(Path model, Path dir, EngineConfig ec)
      throws Exception {
    try (Ops ops = Backends.create("cpu");
        LoadedModel lm = ModelLoader.load(model, ops);
        Engine e =
            new Engine(
                new LlamaModel(lm.config(), lm.weights(), ops, ec.loraKernel()),
                ec,
                id -> LoraAdapter.load(dir, lm.config(), ec.maxRank()),
                null)) {
      var f =
          e.submit(
              new GenerationRequest(
                  "x",
                  new int[] {1, 40, 50},
                  "a0",
                  dev.lorastream.engine.sample.SamplingParams.greedy(6)));
      e.runUntilIdle();
      GenerationResult r = f.join();
      assertTrue(r.ok(), r.errorMessage());
      return java.util.Arrays.stream(r.tokens()).boxed().toList();
    }
  }

  /** Sends a one-request batch for adapter "a0" and returns its reply's tokens. */
  private static List<Integer> serve(
      KafkaProducer<String, InferenceBatch> batches, String bootstrap, String id) throws Exception {
    InferenceRequest r =
        InferenceRequest.newBuilder(request(id, "a0"))
            .setSampling(SamplingParams.newBuilder().setMaxTokens(6).build())
            .build();
    InferenceBatch b =
        InferenceBatch.newBuilder()
            .setBatchId("b-" + id)
            .setCreatedEpochMs(System.currentTimeMillis())
            .setRequests(List.of(r))
            .build();
    batches.send(new ProducerRecord<>(Topics.BATCHES.name(), b.getBatchId(), b)).get();
    InferenceResult reply = readReply(bootstrap, id);
    assertNull(reply.getErrorCode(), reply.getErrorMessage());
    return reply.getTokenIds();
  }

  @Test
  void aReaderThatCannotReadGoesStaleRetriesTheSameRecordAndRecovers() throws Exception {
    try (TestKafkaCluster broker = TestKafkaCluster.start()) {
      createTopics(broker);
      String bootstrap = broker.bootstrapServers();
      put(bootstrap, record("a0", tmp, 1L));
      AtomicBoolean registryDown = new AtomicBoolean(true);
      Deserializer<AdapterRecord> real = Topics.ADAPTERS.valueSerde(SERDE).deserializer();
      AdapterCatalogRule rule =
          new AdapterCatalogRule(
              (topic, data) -> {
                if (registryDown.get()) {
                  throw new AvroDecodeException(
                      AvroDecodeException.Reason.REGISTRY_UNAVAILABLE, "registry down", null);
                }
                return real.deserialize(topic, data);
              });
      try (AdapterCatalog catalog = new AdapterCatalog(bootstrap, rule, Duration.ofSeconds(2))) {
        ConsumerHealth health = new ConsumerHealth(() -> null, catalog::live);
        health.polling(true);
        assertFalse(catalog.awaitCaughtUp(Duration.ofSeconds(4)), "cannot catch up");
        waitUntil(() -> !health.getAsBoolean(), 10, "/health DOWN while the reader fails");
        assertInstanceOf(AvroDecodeException.class, catalog.lastError());
        assertEquals(0, catalog.skipped(), "a transient failure is not skipped");

        registryDown.set(false);
        assertTrue(catalog.awaitCaughtUp(Duration.ofSeconds(20)), "caught up after recovering");
        assertNotNull(catalog.get("a0", Duration.ZERO), "the same record, read again");
        waitUntil(health, 10, "/health UP again");
      }
    }
  }

  @Test
  void aDeadReaderTurnsHealthDown() throws Exception {
    try (TestKafkaCluster broker = TestKafkaCluster.start()) {
      createTopics(broker);
      String bootstrap = broker.bootstrapServers();
      put(bootstrap, record("a0", tmp, 1L));
      AdapterCatalogRule dies =
          new AdapterCatalogRule(
              (topic, data) -> {
                throw new StackOverflowError("the decoder broke");
              });
      try (AdapterCatalog catalog = new AdapterCatalog(bootstrap, dies, Duration.ofSeconds(15))) {
        ConsumerHealth health = new ConsumerHealth(() -> null, catalog::live);
        health.polling(true);
        waitUntil(() -> !health.getAsBoolean(), 30, "/health DOWN once the reader died");
        assertInstanceOf(StackOverflowError.class, catalog.lastError());
      }
    }
  }

  @Test
  void theChangeListenerHearsOfEveryWeightChangeButNotOfARepublish() throws Exception {
    try (TestKafkaCluster broker = TestKafkaCluster.start()) {
      createTopics(broker);
      String bootstrap = broker.bootstrapServers();
      try (AdapterCatalog catalog = new AdapterCatalog(bootstrap, SERDE)) {
        List<String> changes = new CopyOnWriteArrayList<>();
        catalog.onChange(changes::add);
        assertTrue(catalog.awaitCaughtUp(Duration.ofSeconds(30)));
        put(bootstrap, record("a0", tmp.resolve("v1"), 1L)); // added
        AdapterRecord owner = record("a0", tmp.resolve("v1"), 1L);
        owner.setOwnerTenant("t2");
        put(bootstrap, owner); // same weights
        put(bootstrap, record("a0", tmp.resolve("v2"), 1L)); // new source
        putRaw(bootstrap, "a0", null); // tombstone
        putRaw(bootstrap, "zz", null); // tombstone of an unknown id
        put(bootstrap, record("a1", tmp.resolve("v1"), 1L)); // marks the end
        waitUntil(() -> changes.contains("a1"), 20, "every record read");
        assertEquals(List.of("a0", "a0", "a0", "a1"), changes);
        assertNull(catalog.get("a0", Duration.ZERO));
      }
    }
  }

  static void createTopics(TestKafkaCluster broker) throws Exception {
    for (Topic<?, ?> t : Topics.all()) {
      broker.createTopic(t.name(), 1, t.topicConfigs());
    }
  }

  static AdapterRecord record(String id, Path dir, long created) {
    return AdapterRecord.newBuilder()
        .setAdapterId(id)
        .setSourceUri(dir.toUri().toString())
        .setRank(8)
        .setBaseModel("model") // the model folder's name: the default lorastream.model.name
        .setCreatedEpochMs(created)
        .build();
  }

  static void put(String bootstrap, AdapterRecord r) throws Exception {
    try (KafkaProducer<String, AdapterRecord> p =
        new KafkaProducer<>(
            Map.of("bootstrap.servers", bootstrap),
            new StringSerializer(),
            Topics.ADAPTERS.valueSerde(SERDE).serializer())) {
      p.send(new ProducerRecord<>(Topics.ADAPTERS.name(), r.getAdapterId(), r)).get();
    }
  }

  static void putRaw(String bootstrap, String key, byte[] value) throws Exception {
    try (KafkaProducer<String, byte[]> p =
        new KafkaProducer<>(
            Map.of("bootstrap.servers", bootstrap),
            new StringSerializer(),
            new ByteArraySerializer())) {
      p.send(new ProducerRecord<>(Topics.ADAPTERS.name(), key, value)).get();
    }
  }

  private static InferenceRequest request(String id, String adapter) {
    return InferenceRequest.newBuilder()
        .setRequestId(id)
        .setTenantId("t1")
        .setAdapterId(adapter)
        .setPromptTokenIds(List.of(1, 40, 50))
        .setSampling(SamplingParams.newBuilder().setMaxTokens(3).build())
        .setCreatedEpochMs(System.currentTimeMillis())
        .build();
  }

  /** The first committed record of {@code lora.replies} (60 s at most). */
  private static InferenceResult readReply(String bootstrap) {
    return readReply(bootstrap, null);
  }

  /**
   * The committed reply of {@code lora.replies} to request {@code id} (any, when null; 60 s at
   * most).
   */
  private static InferenceResult readReply(String bootstrap, String id) {
    List<InferenceResult> out = new ArrayList<>();
    try (KafkaConsumer<String, InferenceResult> c =
        new KafkaConsumer<>(
            Map.of("bootstrap.servers", bootstrap, "isolation.level", "read_committed"),
            new StringDeserializer(),
            Topics.REPLIES.valueSerde(SERDE).deserializer())) {
      TopicPartition p0 = new TopicPartition(Topics.REPLIES.name(), 0);
      c.assign(List.of(p0));
      c.seekToBeginning(List.of(p0));
      long deadline = System.currentTimeMillis() + 60_000;
      while (out.isEmpty() && System.currentTimeMillis() < deadline) {
        c.poll(Duration.ofMillis(200))
            .forEach(
                r -> {
                  if (id == null || id.equals(r.key())) {
                    out.add(r.value());
                  }
                });
      }
    }
    assertFalse(out.isEmpty(), "no reply to " + id + " on " + Topics.REPLIES.name());
    return out.getFirst();
  }

  static void waitUntil(BooleanSupplier cond, int seconds, String what)
      throws InterruptedException {
    long end = System.nanoTime() + seconds * 1_000_000_000L;
    while (!cond.getAsBoolean()) {
      if (System.nanoTime() > end) {
        throw new AssertionError("timed out waiting for: " + what);
      }
      Thread.sleep(50);
    }
  }
}
