package dev.lorastream.batcher;

import dev.lorastream.schemas.AdapterRecord;
import dev.lorastream.schemas.InferenceBatch;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.ReplyTopics;
import dev.lorastream.schemas.SamplingParams;
import dev.lorastream.schemas.Topic;
import dev.lorastream.schemas.Topics;
import dev.lorastream.schemas.registry.MockSchemaRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.stream.IntStream;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.state.KeyValueStore;

/**
 * A {@link TopologyTestDriver} around {@link BatcherTopology} with its own {@code mock://} registry
 * scope, a fixed start of the wall clock ({@link #T0}) and explicit record timestamps. Close it
 * after each test.
 */
final class Harness implements AutoCloseable {

  /** Wall clock and record timestamps start here (2027-01-15). */
  static final Instant T0 = Instant.ofEpochMilli(1_800_000_000_000L);

  final BatcherConfig config;
  final String scope = "batcher-test-" + UUID.randomUUID();
  final Map<String, Object> serdeConfig =
      Map.of("schema.registry.url", MockSchemaRegistry.URL_PREFIX + scope);
  final SimpleMeterRegistry meters = new SimpleMeterRegistry();
  final TopologyTestDriver driver;
  final TestInputTopic<byte[], byte[]> requestBytes;
  final TestInputTopic<String, AdapterRecord> adapters;
  final TestOutputTopic<String, InferenceBatch> batches;
  final TestOutputTopic<byte[], byte[]> dlq;
  final Serializer<InferenceRequest> requestSerializer;

  /** What {@link ReplyTopics} answers per topic; a topic not in here exists. */
  final Map<String, ReplyTopics.State> replyTopicStates = new ConcurrentHashMap<>();

  /** Told about each lora.requests record; its clock is the driver's wall clock. */
  final RecordTracker tracker;

  /** Every topic the topology asked {@link ReplyTopics} about, in order. */
  final List<String> replyTopicLookups = new CopyOnWriteArrayList<>();

  private long nextTimestamp = T0.toEpochMilli();
  private final long[] wallClock;

  Harness(BatcherConfig config) {
    this(config, null);
  }

  /**
   * @param serdes null = built from {@link #serdeConfig}
   */
  Harness(BatcherConfig config, BatcherSerdes serdes) {
    this.config = config;
    BatcherSerdes s = serdes != null ? serdes : BatcherSerdes.from(serdeConfig);
    ReplyTopics replyTopics =
        topic -> {
          replyTopicLookups.add(topic);
          return replyTopicStates.getOrDefault(topic, ReplyTopics.State.EXISTS);
        };
    long[] wallClock = {T0.toEpochMilli()};
    tracker = new RecordTracker(() -> wallClock[0]);
    this.wallClock = wallClock;
    Topology topology =
        BatcherTopology.build(
            config,
            s,
            replyTopics,
            new BatcherMetrics(meters, config),
            tracker,
            ResidencyIndex.NONE);
    Properties props = new Properties();
    props.put(StreamsConfig.APPLICATION_ID_CONFIG, "batcher-test");
    props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "unused:9092");
    props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
    try {
      props.put(
          StreamsConfig.STATE_DIR_CONFIG, Files.createTempDirectory("batcher-ttd").toString());
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    driver = new TopologyTestDriver(topology, props, T0);
    requestSerializer = Topics.REQUESTS.valueSerde(serdeConfig).serializer();
    requestBytes =
        driver.createInputTopic(
            Topics.REQUESTS.name(),
            Serdes.ByteArray().serializer(),
            Serdes.ByteArray().serializer(),
            T0,
            Duration.ZERO);
    adapters =
        driver.createInputTopic(
            Topics.ADAPTERS.name(),
            Serdes.String().serializer(),
            Topics.ADAPTERS.valueSerde(serdeConfig).serializer(),
            T0,
            Duration.ZERO);
    batches =
        driver.createOutputTopic(
            Topics.BATCHES.name(),
            Serdes.String().deserializer(),
            Topics.BATCHES.valueSerde(serdeConfig).deserializer());
    dlq =
        driver.createOutputTopic(
            Topics.REQUESTS_DLQ.name(),
            Serdes.ByteArray().deserializer(),
            Serdes.ByteArray().deserializer());
  }

  /** Output of a reply topic. */
  TestOutputTopic<String, InferenceResult> replies(String topic) {
    return driver.createOutputTopic(
        topic,
        Serdes.String().deserializer(),
        Topics.REPLIES.valueSerde(serdeConfig).deserializer());
  }

  /**
   * Sends a request, encoded as the producers do, with the next explicit timestamp (1 ms apart).
   */
  void send(InferenceRequest r) {
    sendBytes(
        r.getRequestId().getBytes(StandardCharsets.UTF_8),
        requestSerializer.serialize(Topics.REQUESTS.name(), r));
  }

  void sendBytes(byte[] key, byte[] value) {
    requestBytes.pipeInput(key, value, nextTimestamp++);
  }

  /**
   * Sends a request to another request topic (topics mode: {@code lora.tenant.<t>.requests}),
   * encoded as the producers do, with the next explicit timestamp.
   */
  void sendTo(String topic, InferenceRequest r) {
    driver
        .createInputTopic(
            topic,
            Serdes.ByteArray().serializer(),
            Serdes.ByteArray().serializer(),
            T0,
            Duration.ZERO)
        .pipeInput(
            r.getRequestId().getBytes(StandardCharsets.UTF_8),
            requestSerializer.serialize(topic, r),
            nextTimestamp++);
  }

  void adapter(String id, String owner) {
    adapters.pipeInput(
        id,
        AdapterRecord.newBuilder()
            .setAdapterId(id)
            .setOwnerTenant(owner)
            .setSourceUri("file:///srv/adapters/" + id)
            .setRank(8)
            .setBaseModel("tiny-llama")
            .setCreatedEpochMs(T0.toEpochMilli())
            .build(),
        T0.toEpochMilli());
  }

  void deleteAdapter(String id) {
    adapters.pipeInput(id, null, T0.toEpochMilli());
  }

  /** Timestamp of the last record sent to lora.requests. */
  long lastTimestamp() {
    return nextTimestamp - 1;
  }

  void advance(long ms) {
    wallClock[0] += ms;
    driver.advanceWallClockTime(Duration.ofMillis(ms));
  }

  KeyValueStore<Long, InferenceRequest> buffer() {
    return driver.getKeyValueStore(BatcherTopology.BUFFER_STORE);
  }

  List<KeyValue<Long, InferenceRequest>> bufferContents() {
    List<KeyValue<Long, InferenceRequest>> out = new ArrayList<>();
    try (var it = buffer().all()) {
      it.forEachRemaining(out::add);
    }
    return out;
  }

  double counter(String name, String... tags) {
    var c = meters.find(name).tags(tags).counter();
    return c == null ? 0 : c.count();
  }

  /**
   * A valid request of tenant {@code acme}: {@code promptTokens} prompt tokens, {@code maxTokens}
   * new ones.
   */
  static InferenceRequest request(String id, String adapter, int promptTokens, int maxTokens) {
    return InferenceRequest.newBuilder()
        .setRequestId(id)
        .setTenantId("acme")
        .setAdapterId(adapter)
        .setPromptTokenIds(IntStream.range(0, promptTokens).map(i -> 100 + i).boxed().toList())
        .setSampling(SamplingParams.newBuilder().setMaxTokens(maxTokens).build())
        .setCreatedEpochMs(T0.toEpochMilli())
        .build();
  }

  static InferenceRequest request(String id, String adapter) {
    return request(id, adapter, 4, 4);
  }

  @Override
  public void close() {
    driver.close();
    MockSchemaRegistry.dropScope(scope);
  }

  /**
   * Creates every declared topic ({@code Topics.all()}) through {@code admin}: {@code lora.batches}
   * with {@code batchesPartitions} partitions, the others with one; replication 1, each with its
   * declared configs (compaction). The broker tests' stack.
   */
  static void createTopics(Admin admin, int batchesPartitions) throws Exception {
    List<NewTopic> topics = new ArrayList<>();
    for (Topic<?, ?> t : Topics.all()) {
      topics.add(
          new NewTopic(t.name(), t == Topics.BATCHES ? batchesPartitions : 1, (short) 1)
              .configs(t.topicConfigs()));
    }
    admin.createTopics(topics).all().get();
  }

  /**
   * The registration the broker tests publish on {@code lora.adapters}: adapter {@code id} of
   * {@code owner}, rank 8, base model {@code m}, source {@code file:///a/<id>}.
   */
  static AdapterRecord registration(String id, String owner) {
    return AdapterRecord.newBuilder()
        .setAdapterId(id)
        .setOwnerTenant(owner)
        .setSourceUri("file:///a/" + id)
        .setRank(8)
        .setBaseModel("m")
        .setCreatedEpochMs(1)
        .build();
  }
}
