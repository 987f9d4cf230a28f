package dev.lorastream.cli.hostile;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.batcher.BatcherApp;
import dev.lorastream.batcher.BatcherConfig;
import dev.lorastream.consumer.CatalogAdapterSource;
import dev.lorastream.consumer.ConsumerSettings;
import dev.lorastream.consumer.InferenceConsumer;
import dev.lorastream.devstack.TestKafkaCluster;
import dev.lorastream.engine.sched.EngineConfig;
import dev.lorastream.ingest.LoraClient;
import dev.lorastream.ingest.LoraClientConfig;
import dev.lorastream.ingest.PromptTokenizer;
import dev.lorastream.schemas.AdapterRecord;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.Topic;
import dev.lorastream.schemas.Topics;
import dev.lorastream.schemas.registry.MockSchemaRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.stream.Stream;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.streams.KafkaStreams;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * The stack the hostile cases run against, wired as {@code demo --serve} wires it: an in-process
 * KRaft broker, an in-process schema registry ({@code mock://}), the batcher and one inference
 * consumer on the demo model ({@code models/lorastream-demo}), whose adapter roots are the demo's
 * own adapters, a scratch folder the adapter cases fill and a root that is a symbolic link. Started
 * once for every class of the suite ({@link #get}) and closed when the run ends. A background
 * reader collects every record of the reply topics and both dead-letter topics, so a case sends and
 * then waits for what it expects.
 */
final class HostileStack implements AutoCloseable {
  /** Header set on every raw record a case sends; dead-lettered records keep it. */
  static final String CASE_HEADER = "hostile.case";

  static final Path HOME = Path.of("").toAbsolutePath().getParent(); // surefire runs in launcher/
  static final Path MODEL = HOME.resolve("models/lorastream-demo");
  static final int MAX_PROMPT_TOKENS = 128;
  static final int MAX_NEW_TOKENS = 32;
  static final int MAX_CONTEXT_TOKENS = 140;

  /** The per-tenant reply topic that exists (acme may use it). */
  static final String ACME_REPLIES = "lora.replies.acme";

  private static final Duration WAIT = Duration.ofSeconds(60);

  final TestKafkaCluster cluster;
  final String registryUrl;
  final MockSchemaRegistry registry;
  final Map<String, Object> serde;
  final Path scratch; // an adapter root the cases write into
  final Path tmp; // everything the stack writes; deleted by close()
  final Path outside; // a folder outside every adapter root
  final Path linkedRoot; // an adapter root that is a symbolic link to a folder
  final PromptTokenizer tokenizer;
  final BatcherApp batcher;
  final InferenceConsumer consumer;
  final LoraClient client;
  private final Thread serving;
  private final KafkaProducer<byte[], byte[]> raw;
  private final KafkaConsumer<byte[], byte[]> reader;
  private final Thread readerThread;
  private final List<Seen> seen = new CopyOnWriteArrayList<>();

  /** One record read from a reply or dead-letter topic. */
  record Seen(String topic, ConsumerRecord<byte[], byte[]> record, InferenceResult reply) {
    String header(String name) {
      Header h = record.headers().lastHeader(name);
      return h == null ? null : new String(h.value(), StandardCharsets.UTF_8);
    }
  }

  /** The stack of this test run, started by the first class that asks. */
  static HostileStack get(ExtensionContext context) {
    return context
        .getRoot()
        .getStore(ExtensionContext.Namespace.GLOBAL)
        .getOrComputeIfAbsent(HostileStack.class, k -> start(), HostileStack.class);
  }

  private static HostileStack start() {
    try {
      return new HostileStack();
    } catch (Exception e) {
      throw new IllegalStateException("the hostile-input stack did not start: " + e, e);
    }
  }

  private HostileStack() throws Exception {
    tmp = Files.createTempDirectory("lorastream-hostile");
    scratch = Files.createDirectories(tmp.resolve("adapters"));
    outside = Files.createDirectories(tmp.resolve("outside"));
    linkedRoot =
        Files.createSymbolicLink(
            tmp.resolve("linked-root"), Files.createDirectories(tmp.resolve("real-root")));
    cluster = TestKafkaCluster.start();
    String scope = "hostile-" + UUID.randomUUID();
    registryUrl = MockSchemaRegistry.URL_PREFIX + scope;
    registry = MockSchemaRegistry.forScope(scope);
    serde = Map.of("schema.registry.url", registryUrl);
    createTopics();
    raw =
        new KafkaProducer<>(
            Map.of("bootstrap.servers", cluster.bootstrapServers(), "linger.ms", 0),
            new ByteArraySerializer(),
            new ByteArraySerializer());
    publishDemoAdapters();
    reader =
        new KafkaConsumer<>(
            Map.of(
                "bootstrap.servers",
                cluster.bootstrapServers(),
                "isolation.level",
                "read_committed",
                "enable.auto.commit",
                false),
            new ByteArrayDeserializer(),
            new ByteArrayDeserializer());
    List<TopicPartition> parts = new ArrayList<>();
    for (String t :
        List.of(
            Topics.REPLIES.name(),
            ACME_REPLIES,
            Topics.REQUESTS_DLQ.name(),
            Topics.ADAPTERS_DLQ.name())) {
      reader.partitionsFor(t).forEach(p -> parts.add(new TopicPartition(t, p.partition())));
    }
    reader.assign(parts);
    reader.seekToBeginning(parts);
    Deserializer<InferenceResult> replies = Topics.REPLIES.valueSerde(serde).deserializer();
    readerThread = Thread.ofPlatform().daemon().name("hostile-reader").start(() -> read(replies));
    Properties bp = new Properties();
    bp.put("bootstrap.servers", cluster.bootstrapServers());
    bp.put("schema.registry.url", registryUrl);
    bp.put("state.dir", Files.createDirectories(tmp.resolve("batcher")).toString());
    bp.put(BatcherConfig.METRICS_PORT, "-1");
    bp.put(BatcherConfig.MAX_WAIT_MS, "10");
    bp.put(BatcherConfig.MAX_PROMPT_TOKENS, String.valueOf(MAX_PROMPT_TOKENS));
    bp.put(BatcherConfig.MAX_NEW_TOKENS, String.valueOf(MAX_NEW_TOKENS));
    bp.put(BatcherConfig.MAX_CONTEXT_TOKENS, String.valueOf(MAX_CONTEXT_TOKENS));
    bp.put("commit.interval.ms", "20");
    batcher = BatcherApp.start(BatcherConfig.fromProperties(bp));
    consumer =
        new InferenceConsumer(
            ConsumerSettings.from(
                Map.of(
                    ConsumerSettings.BOOTSTRAP,
                    cluster.bootstrapServers(),
                    ConsumerSettings.REGISTRY,
                    registryUrl,
                    ConsumerSettings.MODEL,
                    MODEL.toString(),
                    ConsumerSettings.ADAPTER_ROOTS,
                    MODEL.resolve("adapters") + "," + scratch + "," + linkedRoot,
                    ConsumerSettings.ID,
                    "hostile-consumer",
                    ConsumerSettings.METRICS_PORT,
                    "-1")),
            EngineConfig.defaults(),
            new SimpleMeterRegistry());
    serving = Thread.ofPlatform().name("hostile-serving").start(this::serve);
    tokenizer = PromptTokenizer.load(MODEL);
    client =
        new LoraClient(
            LoraClientConfig.of(cluster.bootstrapServers(), registryUrl).withDefaultTimeout(WAIT),
            tokenizer,
            null);
    assertTrue(batcher.awaitRunning(WAIT), "batcher running");
  }

  private void createTopics() throws Exception {
    try (Admin admin = cluster.admin()) {
      List<NewTopic> topics = new ArrayList<>();
      for (Topic<?, ?> t : Topics.all()) {
        topics.add(
            new NewTopic(t.name(), t.compacted() ? 1 : 2, (short) 1).configs(t.topicConfigs()));
      }
      topics.add(new NewTopic(ACME_REPLIES, 1, (short) 1));
      admin.createTopics(topics).all().get(30, TimeUnit.SECONDS);
    }
  }

  /** The demo's style adapters: legal owned by acme, python public. */
  private void publishDemoAdapters() throws Exception {
    Path root = MODEL.resolve("adapters");
    publishAdapter(adapterRecord("legal", "acme", root.resolve("legal"), 16, true));
    publishAdapter(adapterRecord("python", null, root.resolve("python"), 16, true));
  }

  /** A catalog record for the adapter folder {@code dir}, as a well-behaved admin writes it. */
  static AdapterRecord adapterRecord(
      String id, String owner, Path dir, int rank, boolean withSha256) throws Exception {
    Path weights = dir.resolve("adapter_model.safetensors");
    boolean regular = Files.isRegularFile(weights);
    return AdapterRecord.newBuilder()
        .setAdapterId(id)
        .setOwnerTenant(owner)
        .setSourceUri(dir.toUri().toString())
        .setSha256(withSha256 && regular ? CatalogAdapterSource.sha256(weights) : null)
        .setRank(rank)
        .setBaseModel(MODEL.getFileName().toString())
        .setSizeBytes(regular ? Files.size(weights) : 0)
        .setCreatedEpochMs(System.currentTimeMillis())
        .build();
  }

  void publishAdapter(AdapterRecord rec) throws Exception {
    byte[] value =
        Topics.ADAPTERS.valueSerde(serde).serializer().serialize(Topics.ADAPTERS.name(), rec);
    send(
        Topics.ADAPTERS.name(),
        rec.getAdapterId().getBytes(StandardCharsets.UTF_8),
        value,
        "publish-" + rec.getAdapterId());
  }

  /** Sends one record as is, with the {@link #CASE_HEADER}, and waits until the broker has it. */
  void send(String topic, byte[] key, byte[] value, String caseId) throws Exception {
    ProducerRecord<byte[], byte[]> r = new ProducerRecord<>(topic, key, value);
    r.headers().add(CASE_HEADER, caseId.getBytes(StandardCharsets.UTF_8));
    raw.send(r).get(30, TimeUnit.SECONDS);
  }

  /** The first reply (on any reply topic) that matches, waiting up to a minute. */
  Seen awaitReply(Predicate<Seen> match) throws InterruptedException {
    return await(s -> s.reply() != null && match.test(s), "a reply");
  }

  /** The reply with this tenant and request id. */
  InferenceResult awaitReply(String tenant, String requestId) throws InterruptedException {
    return awaitReply(
            s ->
                requestId.equals(s.reply().getRequestId())
                    && tenant.equals(s.reply().getTenantId()))
        .reply();
  }

  /** Every reply seen so far with this tenant and request id. */
  List<InferenceResult> replies(String tenant, String requestId) {
    return seen.stream()
        .filter(s -> s.reply() != null)
        .map(Seen::reply)
        .filter(r -> requestId.equals(r.getRequestId()) && tenant.equals(r.getTenantId()))
        .toList();
  }

  /**
   * The replies to ({@code tenant}, {@code requestId}) once there are {@code count} of them, or
   * those there are after 30 s: a probe sent after the request is no barrier when the two land on
   * different partitions of {@code lora.requests}.
   */
  List<InferenceResult> replies(String tenant, String requestId, int count)
      throws InterruptedException {
    long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    List<InferenceResult> r = replies(tenant, requestId);
    while (r.size() < count && System.nanoTime() < end) {
      Thread.sleep(20);
      r = replies(tenant, requestId);
    }
    return r;
  }

  /** The dead-lettered record of a case on {@code dlqTopic}, waiting up to a minute. */
  Seen awaitDeadLetter(String dlqTopic, String caseId) throws InterruptedException {
    return await(
        s -> s.topic().equals(dlqTopic) && caseId.equals(s.header(CASE_HEADER)),
        "case " + caseId + " on " + dlqTopic);
  }

  /** Whether anything of this case reached a dead-letter topic so far. */
  boolean deadLettered(String caseId) {
    return seen.stream().anyMatch(s -> s.reply() == null && caseId.equals(s.header(CASE_HEADER)));
  }

  private Seen await(Predicate<Seen> match, String what) throws InterruptedException {
    long end = System.nanoTime() + WAIT.toNanos();
    while (System.nanoTime() < end) {
      for (Seen s : seen) {
        if (match.test(s)) {
          return s;
        }
      }
      Thread.sleep(5);
    }
    throw new AssertionError("nothing matched within " + WAIT + ": expected " + what);
  }

  /**
   * Both services are still up and a good request sent now is answered: the probe every case ends
   * with.
   */
  void assertServing(String tenant, String adapter) throws Exception {
    String id = "probe-" + UUID.randomUUID();
    byte[] value = RawRequest.good(id, tenant, adapter, tokenizer).encode(this);
    send(Topics.REQUESTS.name(), id.getBytes(StandardCharsets.UTF_8), value, id);
    InferenceResult r = awaitReply(tenant, id);
    assertNull(r.getErrorCode(), "a good request after the case: " + r.getErrorMessage());
    assertEquals(2, r.getTokenIds().size(), "the probe's tokens");
    assertEquals(KafkaStreams.State.RUNNING, batcher.state(), "the batcher's streams");
    assertEquals(KafkaStreams.State.RUNNING, batcher.deadLetterState(), "the catalog DLQ writer");
    assertTrue(consumer.healthy(), "the consumer reports healthy");
  }

  /** The schema id the registry gave {@code lora.requests}' value schema. */
  int requestSchemaId() {
    return registry.register(Topics.REQUESTS.valueSubject(), InferenceRequest.getClassSchema());
  }

  private void read(Deserializer<InferenceResult> replies) {
    try {
      while (true) {
        for (ConsumerRecord<byte[], byte[]> r : reader.poll(Duration.ofMillis(50))) {
          boolean dlq =
              r.topic().equals(Topics.REQUESTS_DLQ.name())
                  || r.topic().equals(Topics.ADAPTERS_DLQ.name());
          InferenceResult reply =
              dlq || r.value() == null ? null : replies.deserialize(r.topic(), r.value());
          seen.add(new Seen(r.topic(), r, reply));
        }
      }
    } catch (WakeupException e) {
      // closing
    }
  }

  private void serve() {
    try {
      consumer.run();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  @Override
  public void close() throws Exception {
    consumer.stop();
    serving.join(10_000);
    reader.wakeup();
    readerThread.join(10_000);
    try (cluster;
        raw;
        reader;
        tokenizer;
        client;
        batcher;
        consumer) {
      // closed in reverse order: the services first, the broker last
    }
    try (Stream<Path> files = Files.walk(tmp)) { // links are not followed: only tmp is deleted
      for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    }
  }
}
