package dev.lorastream.batcher;

import dev.lorastream.schemas.AdapterCatalogRule;
import dev.lorastream.schemas.AdminReplyTopics;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.ReplyTopics;
import dev.lorastream.schemas.Tenancy;
import dev.lorastream.schemas.Tenants;
import dev.lorastream.schemas.Topics;
import java.util.Map;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Branched;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Named;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.processor.TopicNameExtractor;
import org.apache.kafka.streams.state.Stores;

/**
 * The batcher's topology, a pure function of its config (no I/O: nothing connects until Kafka
 * Streams runs it).
 *
 * <pre>
 * lora.adapters ──► AdapterCatalogRule ──► global store lorastream-adapters ·······························┐
 * lora.requests (bytes; shared mode) ─┐                                                                    │
 * lora.tenant.*.requests (topics mode,├► decode ─┬─ undecodable ──► lora.requests.dlq (original bytes +    │
 *   by pattern)                      ─┘          │                  DlqHeaders)                            │
 *                                                └─ request ──► tenant-bind (topics mode: tenant = topic's;│
 *                                                     │   another tenantId or replyTopic is rejected:      │
 *                                                     │   INVALID_PARAMS to the topic tenant's replies)    │
 *                                                     ▼                                                    │
 *                                                   dedup ((tenant, id) → first read; a repeat             │
 *                                                     │    within the window is rejected:                  │
 *                                                     │    DUPLICATE_REQUEST, as below)                    │
 *                                                     ▼                                                    │
 *                                                   validate (catalog, ReplyTopics, wall clock) ◄··········┘
 *                                                     ├─ rejected ──► request.replyTopic, or lora.replies
 *                                                     │               when that topic is not allowed or
 *                                                     │               cannot be written (see ReplyTopics)
 *                                                     └─ accepted ──► batch (stores: buffer, sequence,
 *                                                                      wall-clock punctuation)
 *                                                                      └──► lora.batches (AffinityPartitioner,
 *                                                                           by residency: ◄·· lora.residency,
 *                                                                           read by ResidencyReader)
 * </pre>
 *
 * <p>Only topics that {@link ReplyTopics} says exist are ever named by the dynamic reply sink:
 * under exactly_once_v2 a write to a missing topic would abort the transaction and stop the stream
 * thread on every retry of that request.
 */
public final class BatcherTopology {

  /** The global adapter store: adapterId → AdapterRecord, kept by {@link CatalogStoreProcessor}. */
  public static final String ADAPTER_STORE = "lorastream-adapters";

  /** Per-task batch buffer: arrival sequence (Long) → InferenceRequest. Empty after each flush. */
  public static final String BUFFER_STORE = "batcher-buffer";

  /**
   * Per-task (tenantId, requestId) pairs read within {@code batcher.dedup.window.ms}, with when the
   * first was read, kept by {@link DedupProcessor}.
   */
  public static final String DEDUP_STORE = "batcher-dedup";

  /** Per-task counters ({@code batch} → last batch sequence number). */
  public static final String SEQUENCE_STORE = "batcher-sequence";

  /**
   * Header on each {@code lora.batches} record: the spread slot (decimal) the batch was routed
   * with.
   */
  public static final String SPREAD_SLOT_HEADER = "lorastream.batch.spread.slot";

  private BatcherTopology() {}

  /** The topology with meters that go nowhere. */
  public static Topology build(
      BatcherConfig config, Map<String, ?> serdeConfig, ReplyTopics replyTopics) {
    return build(config, serdeConfig, replyTopics, BatcherMetrics.noop(config));
  }

  /**
   * @param serdeConfig serde settings, at least {@code schema.registry.url}
   * @param replyTopics asked, per request, whether its reply topic can be written (only called
   *     while the topology runs; {@link BatcherApp} passes a cached {@link AdminReplyTopics})
   * @param metrics where the processors count requests and batches
   */
  public static Topology build(
      BatcherConfig config,
      Map<String, ?> serdeConfig,
      ReplyTopics replyTopics,
      BatcherMetrics metrics) {
    return build(config, BatcherSerdes.from(serdeConfig), replyTopics, metrics);
  }

  static Topology build(
      BatcherConfig config, BatcherSerdes serdes, ReplyTopics replyTopics, BatcherMetrics metrics) {
    return build(
        config,
        serdes,
        replyTopics,
        metrics,
        new RecordTracker(System::currentTimeMillis),
        ResidencyIndex.NONE);
  }

  /**
   * @param tracker told about each {@code lora.requests} record before and after it is handled
   * @param residency what the consumers hold, for routing batches ({@link AffinityPartitioner})
   */
  static Topology build(
      BatcherConfig config,
      BatcherSerdes serdes,
      ReplyTopics replyTopics,
      BatcherMetrics metrics,
      RecordTracker tracker,
      ResidencyIndex residency) {
    StreamsBuilder builder = new StreamsBuilder();

    // A global store kept with the catalog rule the consumers use (not a GlobalKTable, which
    // would decode with its own rule and skip with the deserialization handler's).
    AdapterCatalogRule rule = new AdapterCatalogRule(serdes.adapters().deserializer());
    builder.addGlobalStore(
        Stores.keyValueStoreBuilder(
                Stores.persistentKeyValueStore(ADAPTER_STORE), Serdes.String(), serdes.adapters())
            .withLoggingDisabled(),
        Topics.ADAPTERS.name(),
        Consumed.with(Serdes.String(), Serdes.ByteArray()).withName("adapters-source"),
        () -> new CatalogStoreProcessor(rule, metrics));

    builder.addStateStore(
        Stores.keyValueStoreBuilder(
            Stores.persistentKeyValueStore(BUFFER_STORE), Serdes.Long(), serdes.buffered()));
    builder.addStateStore(
        Stores.keyValueStoreBuilder(
            Stores.persistentKeyValueStore(SEQUENCE_STORE), Serdes.String(), Serdes.Long()));
    builder.addStateStore(
        Stores.keyValueStoreBuilder(
            Stores.persistentKeyValueStore(DEDUP_STORE), Serdes.Bytes(), Serdes.Long()));

    Consumed<byte[], byte[]> raw =
        Consumed.with(Serdes.ByteArray(), Serdes.ByteArray()).withName("requests-source");
    KStream<byte[], byte[]> requests =
        config.tenancy() == Tenancy.TOPICS
            ? builder.stream(Tenants.REQUESTS_TOPIC_PATTERN, raw)
            : builder.stream(Topics.REQUESTS.name(), raw);
    KStream<byte[], Decoded> decoded =
        requests.process(
            () -> new DecodeProcessor(serdes.requestDecoder(), metrics, tracker),
            Named.as("decode"));

    var byDecoding =
        decoded
            .split(Named.as("decoded-"))
            .branch((k, v) -> v instanceof Decoded.Dead, Branched.as("dead"))
            .defaultBranch(Branched.as("ok"));
    byDecoding
        .get("decoded-dead")
        .mapValues(v -> ((Decoded.Dead) v).value(), Named.as("dead-bytes"))
        .to(
            Topics.REQUESTS_DLQ.name(),
            Produced.with(Serdes.ByteArray(), Serdes.ByteArray()).withName("dlq-sink"));

    KStream<byte[], InferenceRequest> ok =
        byDecoding
            .get("decoded-ok")
            .mapValues(v -> ((Decoded.Ok) v).request(), Named.as("request"));
    KStream<byte[], Verdict> bound =
        config.tenancy() == Tenancy.TOPICS
            ? ok.process(
                () -> new TenantBindProcessor(replyTopics, metrics), Named.as("tenant-bind"))
            : ok.mapValues(r -> (Verdict) new Verdict.Accepted(r), Named.as("unbound"));
    KStream<String, Verdict> verdicts =
        bound
            .process(
                () -> new DedupProcessor(config, replyTopics, metrics),
                Named.as("dedup"),
                DEDUP_STORE)
            .process(
                () -> new ValidateProcessor(config, replyTopics, metrics), Named.as("validate"));

    var byVerdict =
        verdicts
            .split(Named.as("verdict-"))
            .branch((k, v) -> v instanceof Verdict.Rejected, Branched.as("rejected"))
            .defaultBranch(Branched.as("accepted"));
    TopicNameExtractor<String, Verdict> replyTopic =
        (key, v, ctx) -> ((Verdict.Rejected) v).topic();
    byVerdict
        .get("verdict-rejected")
        .to(
            replyTopic,
            Produced.with(
                    Serdes.String(),
                    ProjectingSerializer.<Verdict, InferenceResult>serde(
                        serdes.replies(), v -> ((Verdict.Rejected) v).reply()))
                .withName("reply-sink"));

    byVerdict
        .get("verdict-accepted")
        .mapValues(v -> ((Verdict.Accepted) v).request(), Named.as("accepted-request"))
        .process(
            () -> new BatchProcessor(config, metrics),
            Named.as("batch"),
            BUFFER_STORE,
            SEQUENCE_STORE)
        .to(
            Topics.BATCHES.name(),
            Produced.with(
                    Serdes.String(),
                    ProjectingSerializer.serde(serdes.batches(), RoutedBatch::batch))
                .withStreamPartitioner(
                    new AffinityPartitioner(
                        residency,
                        new PartitionLoad(
                            config.hashBalanceFactor() / 100.0, System::currentTimeMillis),
                        metrics::batchFollowedResidency,
                        metrics::batchBounded))
                .withName("batches-sink"));

    return builder.build();
  }
}
