package dev.lorastream.schemas;

import java.util.List;

/**
 * The topics of lorastream (docs/design.md, Topics), declared once. Keys are plain UTF-8 strings
 * (StringSerializer); values are Avro with the Confluent Schema Registry framing, subjects {@code
 * <topic>-value}. Headers of dead-lettered records are named in {@link DlqHeaders}.
 */
public final class Topics {

  /** Completion requests, keyed by requestId. */
  public static final Topic<String, InferenceRequest> REQUESTS =
      new Topic<>("lora.requests", String.class, InferenceRequest.class, false);

  /**
   * Heterogeneous batches formed by the batcher, keyed by batchId; partition chosen by adapter
   * affinity.
   */
  public static final Topic<String, InferenceBatch> BATCHES =
      new Topic<>("lora.batches", String.class, InferenceBatch.class, false);

  /**
   * The default reply topic, keyed by requestId. A request may name another one in {@code
   * InferenceRequest.replyTopic}; use {@link #replies(String)} for it.
   */
  public static final Topic<String, InferenceResult> REPLIES =
      new Topic<>("lora.replies", String.class, InferenceResult.class, false);

  /**
   * Registered adapters, keyed by adapterId; compacted, a null value (tombstone) deletes the
   * adapter.
   */
  public static final Topic<String, AdapterRecord> ADAPTERS =
      new Topic<>("lora.adapters", String.class, AdapterRecord.class, true);

  /**
   * Records of {@link #REQUESTS} that could not be decoded: the original key and value bytes, with
   * the reason in the {@link DlqHeaders} headers.
   */
  public static final Topic<byte[], byte[]> REQUESTS_DLQ =
      new Topic<>("lora.requests.dlq", byte[].class, byte[].class, false);

  /**
   * Records of {@link #ADAPTERS} that the catalog skips ({@link AdapterCatalogRule}): the original
   * key and value bytes, with the reason in the {@link DlqHeaders} headers. Written by the batcher
   * only, once per skipped record.
   */
  public static final Topic<byte[], byte[]> ADAPTERS_DLQ =
      new Topic<>("lora.adapters.dlq", byte[].class, byte[].class, false);

  /**
   * Token chunks of requests being generated ({@link StreamChunk}), keyed by requestId; written
   * outside transactions, read {@code read_uncommitted}. The per-tenant topic of topics tenancy is
   * {@code lora.tenant.<t>.stream} ({@link Tenants#streamTopic}).
   */
  public static final Topic<String, StreamChunk> STREAM =
      new Topic<>("lora.stream", String.class, StreamChunk.class, false);

  /**
   * Clients' cancels ({@link CancelRequest}), keyed by requestId; every inference consumer reads
   * all of it. The per-tenant topic of topics tenancy is {@code lora.tenant.<t>.cancel} ({@link
   * Tenants#cancelTopic}).
   */
  public static final Topic<String, CancelRequest> CANCEL =
      new Topic<>("lora.cancel", String.class, CancelRequest.class, false);

  /**
   * What each inference consumer holds ({@link ConsumerResidency}: its {@link #BATCHES} partitions
   * and the adapters in its backend pool and host memory), keyed by consumerId; compacted, a
   * tombstone when the consumer stops. The batchers read all of it to route a batch to a consumer
   * that holds its adapter.
   */
  public static final Topic<String, ConsumerResidency> RESIDENCY =
      new Topic<>("lora.residency", String.class, ConsumerResidency.class, true);

  /**
   * Tokens served per tenant, adapter, hour and consumer ({@link TenantUsage}), keyed by {@link
   * UsageKey}; compacted. Each consumer writes its cumulative counts in the transaction of the
   * results they count, so read_committed readers see every result counted exactly once.
   */
  public static final Topic<String, TenantUsage> USAGE =
      new Topic<>("lora.usage", String.class, TenantUsage.class, true);

  private Topics() {}

  /** A stream topic of another name (per tenant), with the types of {@link #STREAM}. */
  public static Topic<String, StreamChunk> stream(String name) {
    return STREAM.withName(name);
  }

  /** A cancel topic of another name (per tenant), with the types of {@link #CANCEL}. */
  public static Topic<String, CancelRequest> cancel(String name) {
    return CANCEL.withName(name);
  }

  /** A reply topic of another name (e.g. per tenant), with the types of {@link #REPLIES}. */
  public static Topic<String, InferenceResult> replies(String name) {
    return REPLIES.withName(name);
  }

  /**
   * Every declared topic, for creating them (admin client, embedded broker, docker-compose init).
   */
  public static List<Topic<?, ?>> all() {
    return List.of(
        REQUESTS,
        BATCHES,
        REPLIES,
        ADAPTERS,
        REQUESTS_DLQ,
        ADAPTERS_DLQ,
        STREAM,
        CANCEL,
        RESIDENCY,
        USAGE);
  }
}
