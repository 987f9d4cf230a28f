package dev.lorastream.consumer;

import static dev.lorastream.consumer.AdapterCatalogBrokerTest.SERDE;
import static org.junit.jupiter.api.Assertions.assertEquals;
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
import dev.lorastream.schemas.ErrorCode;
import dev.lorastream.schemas.InferenceBatch;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.SamplingParams;
import dev.lorastream.schemas.Topics;
import dev.lorastream.schemas.registry.MockSchemaRegistry;
import dev.lorastream.schemas.serde.AvroSerdeConfig;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A tombstone on {@code lora.adapters} for an adapter that running sequences use, through the whole
 * consumer (real broker, the catalog reader, {@code Engine.invalidateAdapter}): the running
 * sequences finish with all their tokens, exactly those of an engine that never saw the tombstone,
 * and a request sent afterwards is answered UNKNOWN_ADAPTER.
 */
class AdapterTombstoneBrokerTest {
  static final int SEQUENCES = 8;
  static final int MAX_TOKENS = 400;

  @TempDir Path tmp;

  @AfterEach
  void dropScope() {
    MockSchemaRegistry.dropScope(AdapterCatalogBrokerTest.SCOPE);
  }

  private static InferenceRequest request(String id, int i, int maxTokens) {
    return InferenceRequest.newBuilder()
        .setRequestId(id)
        .setTenantId("t1")
        .setAdapterId("a0")
        .setPromptTokenIds(List.of(1, 40 + i, 50))
        .setSampling(SamplingParams.newBuilder().setMaxTokens(maxTokens).build())
        .setCreatedEpochMs(System.currentTimeMillis())
        .build();
  }

  /** What a fresh CPU engine generates for the long requests, adapter "a0" read from dir. */
  private static Map<String, List<Integer>> expected(Path model, Path dir, EngineConfig ec)
      throws Exception {
    try (Ops ops = Backends.create("cpu");
        LoadedModel lm = ModelLoader.load(model, ops);
        Engine e =
            new Engine(
                new LlamaModel(lm.config(), lm.weights(), ops, ec.loraKernel()),
                ec,
                id -> LoraAdapter.load(dir, lm.config(), ec.maxRank()),
                null)) {
      List<CompletableFuture<GenerationResult>> fs = new ArrayList<>();
      for (int i = 0; i < SEQUENCES; i++) {
        fs.add(
            e.submit(
                new GenerationRequest(
                    "long-" + i,
                    new int[] {1, 40 + i, 50},
                    "a0",
                    dev.lorastream.engine.sample.SamplingParams.greedy(MAX_TOKENS))));
      }
      e.runUntilIdle();
      Map<String, List<Integer>> out = new HashMap<>();
      for (CompletableFuture<GenerationResult> f : fs) {
        GenerationResult r = f.join();
        assertTrue(r.ok(), r.errorMessage());
        out.put(r.id(), Arrays.stream(r.tokens()).boxed().toList());
      }
      return out;
    }
  }

  @Test
  void sequencesRunningAtATombstoneFinishWithAllTheirTokensAndLaterRequestsGetUnknownAdapter()
      throws Exception {
    Path model = tmp.resolve("model");
    Path adapters = tmp.resolve("adapters");
    ModelGenerator.make("tiny", ModelGenerator.Options.defaults(), model);
    AdapterGenerator.make(model, 1, AdapterGenerator.Options.defaults().withRanks(8), adapters);
    Path a0 = adapters.resolve(AdapterGenerator.adapterName(0));
    EngineConfig ec = EngineConfig.defaults().withKvBlocks(256);
    Map<String, List<Integer>> expected = expected(model, a0, ec);
    String backend = System.getProperty(Backends.PROPERTY);
    System.setProperty(Backends.PROPERTY, "cpu"); // the backend expected() ran on
    try (TestKafkaCluster broker = TestKafkaCluster.start()) {
      AdapterCatalogBrokerTest.createTopics(broker);
      String bootstrap = broker.bootstrapServers();
      AdapterCatalogBrokerTest.put(bootstrap, AdapterCatalogBrokerTest.record("a0", a0, 1L));
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
      try (InferenceConsumer consumer = new InferenceConsumer(settings, ec, meters);
          KafkaProducer<String, InferenceBatch> batches =
              new KafkaProducer<>(
                  Map.of("bootstrap.servers", bootstrap),
                  new StringSerializer(),
                  Topics.BATCHES.valueSerde(SERDE).serializer());
          // opened (with lora.adapters' metadata) before the long batch, so that the tombstone
          // is sent at once when the sequences run
          KafkaProducer<String, byte[]> catalog =
              new KafkaProducer<>(
                  Map.of("bootstrap.servers", bootstrap),
                  new StringSerializer(),
                  new ByteArraySerializer())) {
        catalog.partitionsFor(Topics.ADAPTERS.name());
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
          List<InferenceRequest> longOnes = new ArrayList<>();
          for (int i = 0; i < SEQUENCES; i++) {
            longOnes.add(request("long-" + i, i, MAX_TOKENS));
          }
          send(batches, "b-long", longOnes);
          AdapterCatalogBrokerTest.waitUntil(
              () -> gauge(meters, "lorastream.engine.running") == SEQUENCES,
              60,
              "every long sequence running");

          catalog.send(new ProducerRecord<>(Topics.ADAPTERS.name(), "a0", null)).get(); // tombstone
          AdapterCatalogBrokerTest.waitUntil(
              () -> counter(meters, "lorastream.engine.adapter.invalidations") == 1,
              30,
              "the engine applied the tombstone");
          double generated = counter(meters, "lorastream.engine.tokens.generated");
          int all = expected.values().stream().mapToInt(List::size).sum();
          assertTrue(
              generated < all,
              "a sequence still ran when the tombstone reached the engine ("
                  + generated
                  + " of "
                  + all
                  + " tokens generated); make the requests longer");

          send(batches, "b-after", List.of(request("after", 0, 4)));
          Map<String, InferenceResult> replies = replies(bootstrap, SEQUENCES + 1);
          for (int i = 0; i < SEQUENCES; i++) {
            InferenceResult r = replies.get("long-" + i);
            assertNull(r.getErrorCode(), r.getErrorMessage());
            assertEquals(expected.get("long-" + i), r.getTokenIds(), "long-" + i);
          }
          InferenceResult after = replies.get("after");
          assertEquals(ErrorCode.UNKNOWN_ADAPTER, after.getErrorCode(), after.getErrorMessage());
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

  private static void send(
      KafkaProducer<String, InferenceBatch> batches, String id, List<InferenceRequest> requests)
      throws Exception {
    InferenceBatch b =
        InferenceBatch.newBuilder()
            .setBatchId(id)
            .setCreatedEpochMs(System.currentTimeMillis())
            .setRequests(requests)
            .build();
    batches.send(new ProducerRecord<>(Topics.BATCHES.name(), id, b)).get();
  }

  private static double gauge(SimpleMeterRegistry meters, String name) {
    var g = meters.find(name).gauge();
    return g == null ? 0 : g.value();
  }

  private static double counter(SimpleMeterRegistry meters, String name) {
    var c = meters.find(name).functionCounter();
    return c == null ? 0 : c.count();
  }

  /** The first {@code n} committed replies of {@code lora.replies} by request id (90 s at most). */
  private static Map<String, InferenceResult> replies(String bootstrap, int n) {
    Map<String, InferenceResult> out = new HashMap<>();
    try (KafkaConsumer<String, InferenceResult> c =
        new KafkaConsumer<>(
            Map.of("bootstrap.servers", bootstrap, "isolation.level", "read_committed"),
            new StringDeserializer(),
            Topics.REPLIES.valueSerde(SERDE).deserializer())) {
      TopicPartition p0 = new TopicPartition(Topics.REPLIES.name(), 0);
      c.assign(List.of(p0));
      c.seekToBeginning(List.of(p0));
      long deadline = System.currentTimeMillis() + 90_000;
      while (out.size() < n && System.currentTimeMillis() < deadline) {
        c.poll(Duration.ofMillis(200)).forEach(r -> out.putIfAbsent(r.key(), r.value()));
      }
    }
    assertEquals(n, out.size(), "replies on " + Topics.REPLIES.name() + ": " + out.keySet());
    return out;
  }
}
