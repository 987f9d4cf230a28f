package dev.lorastream.batcher;

import dev.lorastream.schemas.FlushReason;
import dev.lorastream.schemas.InferenceBatch;
import dev.lorastream.schemas.Tracing;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.composite.CompositeMeterRegistry;
import io.opentelemetry.api.OpenTelemetry;
import io.opentelemetry.api.trace.Tracer;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The batcher's own Micrometer meters, named so that dashboards and alerts can build on them:
 *
 * <ul>
 *   <li>{@code lorastream.batcher.requests{outcome,code}} counter: outcome {@code accepted} (code
 *       {@code none}), {@code rejected} (code = the {@code ErrorCode}) or {@code dead_lettered}
 *       (code = the DLQ reason, e.g. {@code BAD_MAGIC});
 *   <li>{@code lorastream.batcher.batches{reason}} counter, reason = the {@code FlushReason};
 *   <li>{@code lorastream.batcher.batch.size} (rows), {@code lorastream.batcher.batch.tokens},
 *       {@code lorastream.batcher.batch.fill} (totalTokens / token budget, 0..1) and {@code
 *       lorastream.batcher.batch.adapters} (distinct adapters) distribution summaries;
 *   <li>{@code lorastream.batcher.batch.wait} timer: how long the oldest row waited in the buffer;
 *   <li>{@code lorastream.batcher.batch.spread} counter: batches of a hot adapter sent off its home
 *       partition;
 *   <li>{@code lorastream.batcher.buffered} and {@code lorastream.batcher.buffered.tokens} gauges:
 *       requests and tokens waiting in the buffers of this instance's tasks (the queue depth).
 * </ul>
 *
 * Thread-safe: stream threads of several tasks update one instance.
 */
public final class BatcherMetrics {

  public static final String REQUESTS = "lorastream.batcher.requests";
  public static final String BATCHES = "lorastream.batcher.batches";
  public static final String BATCH_SIZE = "lorastream.batcher.batch.size";
  public static final String BATCH_TOKENS = "lorastream.batcher.batch.tokens";
  public static final String BATCH_FILL = "lorastream.batcher.batch.fill";
  public static final String BATCH_ADAPTERS = "lorastream.batcher.batch.adapters";
  public static final String BATCH_WAIT = "lorastream.batcher.batch.wait";
  public static final String BATCH_SPREAD = "lorastream.batcher.batch.spread";
  public static final String BATCH_RESIDENCY = "lorastream.batcher.batch.residency";
  public static final String BATCH_BOUNDED = "lorastream.batcher.batch.bounded";
  public static final String RESIDENCY_RECORDS = "lorastream.batcher.residency.records";
  public static final String BUFFERED = "lorastream.batcher.buffered";

  /** Requests whose {@code traceparent} is not W3C's format: traced no further, still served. */
  public static final String TRACEPARENT_INVALID = "lorastream.batcher.traceparent.invalid";

  /** lora.adapters records the batcher's adapter store skipped ({@code reason} tag). */
  public static final String ADAPTERS_SKIPPED = "lorastream.batcher.adapters.skipped";

  /** lora.adapters records written to lora.adapters.dlq ({@code reason} tag). */
  public static final String ADAPTERS_DEAD_LETTERED = "lorastream.batcher.adapters.dead.lettered";

  public static final String BUFFERED_TOKENS = "lorastream.batcher.buffered.tokens";

  private final MeterRegistry registry;
  private final int maxBatchTokens;
  private final Map<String, Counter> requestCounters = new ConcurrentHashMap<>();
  private final Map<String, Counter> adapterCounters = new ConcurrentHashMap<>();
  private final Map<FlushReason, Counter> batchCounters = new ConcurrentHashMap<>();
  private final DistributionSummary size;
  private final DistributionSummary tokens;
  private final DistributionSummary fill;
  private final DistributionSummary adapters;
  private final Timer wait;
  private final Tracer tracer;
  private final Counter traceparentInvalid;
  private final Counter spread;
  private final Counter residency;
  private final Counter bounded;
  private final Map<String, Counter> residencyRecords = new ConcurrentHashMap<>();
  private final AtomicLong buffered = new AtomicLong();
  private final AtomicLong bufferedTokens = new AtomicLong();

  public BatcherMetrics(MeterRegistry registry, BatcherConfig config) {
    this(registry, config, OpenTelemetry.noop());
  }

  /**
   * @param openTelemetry where the batcher's {@code queue} spans go ({@link Tracing})
   */
  public BatcherMetrics(MeterRegistry registry, BatcherConfig config, OpenTelemetry openTelemetry) {
    this.registry = registry;
    this.tracer = openTelemetry.getTracer(Tracing.SCOPE);
    this.traceparentInvalid =
        Counter.builder(TRACEPARENT_INVALID)
            .description("requests with a malformed traceparent (ignored: not traced further)")
            .register(registry);
    this.maxBatchTokens = config.maxBatchTokens();
    this.size =
        DistributionSummary.builder(BATCH_SIZE)
            .baseUnit("requests")
            .description("rows per batch")
            .publishPercentileHistogram()
            .register(registry);
    this.tokens =
        DistributionSummary.builder(BATCH_TOKENS)
            .baseUnit("tokens")
            .description("prompt + max new tokens per batch")
            .register(registry);
    this.fill =
        DistributionSummary.builder(BATCH_FILL)
            .baseUnit("ratio") // Prometheus: lorastream_batcher_batch_fill_ratio
            .description("batch tokens / token budget (0..1)")
            .serviceLevelObjectives(0.25, 0.5, 0.75, 0.9, 1.0)
            .register(registry);
    this.adapters =
        DistributionSummary.builder(BATCH_ADAPTERS)
            .baseUnit("adapters")
            .description("distinct adapters per batch")
            .register(registry);
    this.wait =
        Timer.builder(BATCH_WAIT)
            .description("time the oldest row of a batch waited in the buffer")
            .publishPercentileHistogram()
            .register(registry);
    this.spread =
        Counter.builder(BATCH_SPREAD)
            .description("batches of a hot adapter routed off its home partition")
            .register(registry);
    this.residency =
        Counter.builder(BATCH_RESIDENCY)
            .description(
                "batches routed off their adapter's home partition to another partition of a"
                    + " consumer that holds the adapter (lora.residency), for its weights or for"
                    + " balance among holders")
            .register(registry);
    this.bounded =
        Counter.builder(BATCH_BOUNDED)
            .description(
                "batches moved off a full partition (batcher.hash.balance.factor) to the next"
                    + " one that is not")
            .register(registry);
    Gauge.builder(BUFFERED, buffered, AtomicLong::get)
        .baseUnit("requests")
        .description("requests waiting in the batch buffers")
        .register(registry);
    Gauge.builder(BUFFERED_TOKENS, bufferedTokens, AtomicLong::get)
        .baseUnit("tokens")
        .description("tokens of the requests waiting in the batch buffers")
        .register(registry);
  }

  /**
   * Meters that go nowhere (a registry with no backend), for topologies built without a registry.
   */
  public static BatcherMetrics noop(BatcherConfig config) {
    return new BatcherMetrics(new CompositeMeterRegistry(), config);
  }

  public MeterRegistry registry() {
    return registry;
  }

  /** The tracer of the batcher's spans (a no-op one when tracing is off). */
  Tracer tracer() {
    return tracer;
  }

  void traceparentInvalid() {
    traceparentInvalid.increment();
  }

  void accepted() {
    request("accepted", "none");
  }

  void rejected(String errorCode) {
    request("rejected", errorCode);
  }

  void deadLettered(String reason) {
    request("dead_lettered", reason);
  }

  /** The adapter store skipped a lora.adapters record (AdapterCatalogRule). */
  void adapterSkipped(String reason) {
    adapterCount(ADAPTERS_SKIPPED, reason, "lora.adapters records skipped by the adapter store");
  }

  /** A lora.adapters record went to lora.adapters.dlq. */
  void adapterDeadLettered(String reason) {
    adapterCount(
        ADAPTERS_DEAD_LETTERED, reason, "lora.adapters records written to lora.adapters.dlq");
  }

  private void adapterCount(String name, String reason, String description) {
    adapterCounters
        .computeIfAbsent(
            name + '/' + reason,
            k ->
                Counter.builder(name)
                    .tag("reason", reason)
                    .description(description)
                    .register(registry))
        .increment();
  }

  private void request(String outcome, String code) {
    requestCounters
        .computeIfAbsent(
            outcome + '/' + code,
            k ->
                Counter.builder(REQUESTS)
                    .tag("outcome", outcome)
                    .tag("code", code)
                    .description("requests read from lora.requests, by outcome")
                    .register(registry))
        .increment();
  }

  void batch(InferenceBatch batch, Duration oldestWait, boolean spreadOffHome) {
    batchCounters
        .computeIfAbsent(
            batch.getFlushReason(),
            r ->
                Counter.builder(BATCHES)
                    .tag("reason", r.name())
                    .description("batches written to lora.batches, by flush reason")
                    .register(registry))
        .increment();
    size.record(batch.getRequests().size());
    tokens.record(batch.getTotalTokens());
    fill.record((double) batch.getTotalTokens() / maxBatchTokens);
    adapters.record(batch.getAdapterIds().size());
    wait.record(oldestWait);
    if (spreadOffHome) {
      spread.increment();
    }
  }

  /** A batch went to a consumer that holds its adapter instead of its home partition. */
  void batchFollowedResidency() {
    residency.increment();
  }

  /** A batch was moved off a full partition (bounded load). */
  void batchBounded() {
    bounded.increment();
  }

  /**
   * A {@code lora.residency} record was read: {@code outcome} is read, tombstone or undecodable.
   */
  void residencyRecord(String outcome) {
    residencyRecords
        .computeIfAbsent(
            outcome,
            o ->
                Counter.builder(RESIDENCY_RECORDS)
                    .tag("outcome", o)
                    .description("lora.residency records read, by outcome")
                    .register(registry))
        .increment();
  }

  /**
   * A task's buffer changed by {@code requests} rows holding {@code tokenCount} tokens (negative =
   * left).
   */
  void bufferChanged(long requests, long tokenCount) {
    buffered.addAndGet(requests);
    bufferedTokens.addAndGet(tokenCount);
  }
}
