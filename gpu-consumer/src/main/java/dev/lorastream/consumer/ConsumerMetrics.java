package dev.lorastream.consumer;

import dev.lorastream.engine.kv.PagePool;
import dev.lorastream.engine.sched.AdapterCacheStats;
import dev.lorastream.engine.sched.Engine;
import dev.lorastream.engine.sched.EngineStats;
import dev.lorastream.engine.sched.TenantServed;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.ReplyTopics;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.FunctionTimer;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.IntSupplier;
import java.util.function.ToDoubleFunction;

/**
 * The consumer's meters, named {@code lorastream.consumer.*}, {@code lorastream.engine.*} and
 * {@code lorastream.adapters.host.*} (the engine's host adapter tier) so dashboards and tracing can
 * build on them. Counters are read from the engine's own statistics, so nothing is counted twice.
 * {@code lorastream.tenant.served.tokens} (tags tenant and kind = prompt or generated) is
 * registered for a tenant at its first result; past {@link TenantServed#MAX_NAMED} tenants the rest
 * share tenant="other". {@code lorastream.adapter.*} are per adapter with work, within a cap
 * ({@link AdapterMeters}).
 */
final class ConsumerMetrics {
  /** Creation to result, from the result's timings (this consumer's clock past the send). */
  private final Timer latency;

  /** Time to first token: the request's creation to its first token (the result's timings). */
  private final Timer ttft;

  /** Time per output token after the first: (last token - first token) / (tokens - 1). */
  private final Timer tpot;

  private final MeterRegistry registry;
  private final DistributionSummary batchSize;
  private final Counter undecodable;
  private final Counter aborted;
  private final Counter refused;
  private final Counter revokedCancels;
  private final TenantServed served;
  private final Set<String> servedKeys = ConcurrentHashMap.newKeySet(); // registered tenant tags
  private final AdapterMeters adapters;

  ConsumerMetrics(
      MeterRegistry registry, Engine engine, IntSupplier inflight, AdapterCatalog catalog) {
    this(registry, engine, inflight, catalog, AdapterMeters.maxSeriesFromProperty());
  }

  /**
   * @param maxAdapterSeries adapters with their own {@code lorastream.adapter.*} series at most
   *     ({@link AdapterMeters#MAX_SERIES_PROPERTY})
   */
  ConsumerMetrics(
      MeterRegistry registry,
      Engine engine,
      IntSupplier inflight,
      AdapterCatalog catalog,
      int maxAdapterSeries) {
    this.registry = registry;
    this.latency =
        Timer.builder("lorastream.consumer.request.latency")
            .description("request creation to its result (the result's timings)")
            .publishPercentileHistogram()
            .register(registry);
    this.ttft =
        Timer.builder("lorastream.consumer.time.to.first.token")
            .description("time to first token: request creation to its first generated token")
            .publishPercentileHistogram()
            .register(registry);
    this.tpot =
        Timer.builder("lorastream.consumer.time.per.output.token")
            .description("per output token after the first: first to last token over the tokens")
            .publishPercentileHistogram()
            .minimumExpectedValue(java.time.Duration.ofMillis(1))
            .maximumExpectedValue(java.time.Duration.ofSeconds(10))
            .register(registry);
    this.adapters = new AdapterMeters(registry, maxAdapterSeries);
    engine.onAdapterInfo(adapters::update);
    if (catalog != null) {
      FunctionCounter.builder(
              "lorastream.consumer.catalog.skipped", catalog, AdapterCatalog::skipped)
          .description("lora.adapters records skipped by the catalog rule (see lora.adapters.dlq)")
          .register(registry);
      Gauge.builder("lorastream.consumer.catalog.live", catalog, c -> c.live() ? 1 : 0)
          .description("1 while the catalog reader runs, neither stuck nor failing for 15 s")
          .register(registry);
    }
    EngineStats st = engine.stats();
    this.served = engine.scheduler().served();
    this.batchSize =
        DistributionSummary.builder("lorastream.consumer.batch.size")
            .baseUnit("requests")
            .description("requests per lora.batches record")
            .register(registry);
    this.undecodable =
        Counter.builder("lorastream.consumer.batches.undecodable")
            .description("skipped batch records")
            .register(registry);
    this.aborted =
        Counter.builder("lorastream.consumer.transactions.aborted")
            .description("result transactions aborted and redone")
            .register(registry);
    this.refused =
        Counter.builder("lorastream.consumer.batches.refused")
            .description(
                "polled batches put back because the partition's answered-rows offset metadata"
                    + " could outgrow offset.metadata.max.bytes")
            .register(registry);
    this.revokedCancels =
        Counter.builder("lorastream.consumer.revoked.cancels")
            .description(
                "requests of revoked or lost partitions cancelled in the engine (the new owner"
                    + " computes them)")
            .register(registry);
    Gauge.builder("lorastream.consumer.batches.inflight", inflight::getAsInt)
        .description("batches pulled with a request still being computed")
        .register(registry);
    Gauge.builder("lorastream.engine.queue.depth", engine.scheduler(), s -> s.numWaiting())
        .baseUnit("sequences")
        .description("sequences waiting for KV blocks, a seat or their adapter")
        .register(registry);
    Gauge.builder("lorastream.engine.running", engine.scheduler(), s -> s.numRunning())
        .baseUnit("sequences")
        .description("sequences in the engine's steps")
        .register(registry);
    FunctionCounter.builder("lorastream.engine.steps", st, EngineStats::steps).register(registry);
    FunctionCounter.builder("lorastream.engine.step.seconds", st, s -> s.stepNanos() / 1e9)
        .description("time inside engine steps")
        .register(registry);
    FunctionCounter.builder("lorastream.engine.tokens.generated", st, EngineStats::sampledTokens)
        .register(registry);
    FunctionCounter.builder("lorastream.engine.tokens.computed", st, EngineStats::stepTokens)
        .description("prefill and decode tokens run through the model")
        .register(registry);
    FunctionCounter.builder(
            "lorastream.engine.preemptions", engine.scheduler(), s -> s.preemptions())
        .register(registry);
    FunctionCounter.builder("lorastream.engine.cancelled", st, EngineStats::cancelled)
        .description("requests ended by a cancel (e.g. their partition was revoked)")
        .register(registry);
    FunctionCounter.builder("lorastream.engine.cancels.ignored", st, EngineStats::cancelsIgnored)
        .description("cancels that found no queued or running request (unknown or finished)")
        .register(registry);
    FunctionCounter.builder(
            "lorastream.engine.deadlines.exceeded", st, EngineStats::deadlinesExceeded)
        .description("requests ended by their deadline while queued or running")
        .register(registry);
    PagePool pool = engine.pool();
    Gauge.builder("lorastream.engine.pool.pages", pool, PagePool::kvPages)
        .tag("holder", "kv")
        .description("pages of the backend's page pool held by KV blocks")
        .register(registry);
    Gauge.builder("lorastream.engine.pool.pages", pool, PagePool::adapterPages)
        .tag("holder", "adapter")
        .description("pages of the backend's page pool held by adapter weights")
        .register(registry);
    Gauge.builder("lorastream.engine.pool.pages", pool, PagePool::freePages)
        .tag("holder", "free")
        .description("pages of the backend's page pool nobody holds")
        .register(registry);
    if (engine.slots() != null) {
      FunctionCounter.builder("lorastream.engine.adapter.loads", engine.slots(), s -> s.loads())
          .description("adapter writes into the backend's page pool")
          .register(registry);
      FunctionCounter.builder(
              "lorastream.engine.adapter.evictions", engine.slots(), s -> s.evictions())
          .register(registry);
      FunctionCounter.builder(
              "lorastream.engine.adapter.invalidations", engine.slots(), s -> s.invalidations())
          .description("backend slots dropped because the adapter's catalog entry changed")
          .register(registry);
    }
    registerHostAdapters(registry, engine);
  }

  /** The host adapter tier's meters, {@code lorastream.adapters.host.*}. */
  private static void registerHostAdapters(MeterRegistry registry, Engine engine) {
    hostCounter(
        registry, engine, "hits", "requests whose adapter was loaded or loading", s -> s.hits());
    hostCounter(registry, engine, "misses", "adapter loads started", s -> s.misses());
    hostCounter(registry, engine, "failures", "adapter loads that failed", s -> s.failures());
    hostCounter(
        registry,
        engine,
        "evictions",
        "adapters evicted to keep within lorastream.adapters.host-cache-bytes",
        s -> s.evictions());
    hostCounter(
        registry, engine, "evicted.bytes", "bytes of the evicted adapters", s -> s.evictedBytes());
    Gauge.builder(
            "lorastream.adapters.host.resident.bytes",
            engine,
            e -> e.adapterCacheStats().residentBytes())
        .description("bytes of the adapters loaded in host memory")
        .register(registry);
    Gauge.builder(
            "lorastream.adapters.host.resident.entries",
            engine,
            e -> e.adapterCacheStats().residentEntries())
        .description("adapters loaded in host memory")
        .register(registry);
    FunctionTimer.builder(
            "lorastream.adapters.host.load",
            engine,
            e -> e.adapterCacheStats().loadsCompleted(),
            e -> e.adapterCacheStats().loadNanos(),
            TimeUnit.NANOSECONDS)
        .description("adapter loads that ended (loaded or failed) and the time they took")
        .register(registry);
  }

  private static void hostCounter(
      MeterRegistry registry,
      Engine engine,
      String name,
      String description,
      ToDoubleFunction<AdapterCacheStats> value) {
    FunctionCounter.builder(
            "lorastream.adapters.host." + name,
            engine,
            e -> value.applyAsDouble(e.adapterCacheStats()))
        .description(description)
        .register(registry);
  }

  /** Registers the served-token counters of tenant tag {@code key} once (null: none served). */
  private void registerServed(String key) {
    if (key == null || !servedKeys.add(key)) {
      return;
    }
    FunctionCounter.builder("lorastream.tenant.served.tokens", served, s -> s.tokens(key).prompt())
        .description("prompt tokens computed for the tenant (not again when recomputed)")
        .tags("tenant", key, "kind", "prompt")
        .register(registry);
    FunctionCounter.builder(
            "lorastream.tenant.served.tokens", served, s -> s.tokens(key).generated())
        .description("tokens generated for the tenant")
        .tags("tenant", key, "kind", "generated")
        .register(registry);
  }

  void batchReceived(int requests) {
    batchSize.record(requests);
  }

  void batchUndecodable() {
    undecodable.increment();
  }

  void abortedTransaction() {
    aborted.increment();
  }

  void batchRefused() {
    refused.increment();
  }

  /** {@code n} requests of revoked or lost partitions were cancelled in the engine. */
  void revokedCancelled(int n) {
    revokedCancels.increment(n);
  }

  /** A result whose reply topic could not be written went to lora.replies as an error instead. */
  void replyRerouted(ReplyTopics.State reason) {
    registry.counter("lorastream.consumer.replies.rerouted", "reason", reason.name()).increment();
  }

  /**
   * Topics tenancy: a usage record went to {@code lora.usage} only, its tenant's {@code
   * lora.tenant.<t>.usage} missing or not writable.
   */
  void tenantUsageSkipped() {
    registry.counter("lorastream.consumer.tenant.usage.skipped").increment();
  }

  void result(InferenceResult r) {
    registerServed(served.keyOf(r.getTenantId()));
    String code = r.getErrorCode() == null ? "none" : r.getErrorCode().name();
    registry
        .counter(
            "lorastream.consumer.requests",
            "outcome",
            r.getErrorCode() == null ? "ok" : "error",
            "code",
            code)
        .increment();
    latency.record(r.getTimings().getTotalMs(), TimeUnit.MILLISECONDS);
    long first = r.getTimings().getFirstTokenMs();
    if (first > 0) {
      ttft.record(first, TimeUnit.MILLISECONDS);
      int after = r.getTokenIds().size() - 1; // tokens after the first
      long decodeMs = r.getTimings().getTotalMs() - first;
      if (after > 0 && decodeMs >= 0) {
        tpot.record(decodeMs * 1_000_000L / after, TimeUnit.NANOSECONDS);
      }
    }
  }
}
