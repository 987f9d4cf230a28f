package dev.lorastream.consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.engine.backends.Backends;
import dev.lorastream.engine.model.LlamaModel;
import dev.lorastream.engine.model.LoadedModel;
import dev.lorastream.engine.model.ModelLoader;
import dev.lorastream.engine.ops.Ops;
import dev.lorastream.engine.sample.SamplingParams;
import dev.lorastream.engine.sched.AdapterInfo;
import dev.lorastream.engine.sched.AdapterInfo.Tier;
import dev.lorastream.engine.sched.Engine;
import dev.lorastream.engine.sched.EngineConfig;
import dev.lorastream.engine.sched.EngineError;
import dev.lorastream.engine.sched.GenerationRequest;
import dev.lorastream.engine.testdata.ModelGenerator;
import dev.lorastream.schemas.ErrorCode;
import dev.lorastream.schemas.FinishReason;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.Timings;
import dev.lorastream.schemas.Usage;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The consumer's meters under the names Prometheus scrapes them by, after real engine work (the
 * /metrics endpoint itself is tested once, in schemas' MetricsServerTest).
 */
class ConsumerMetricsTest {
  @TempDir Path tmp;

  @Test
  void engineAndRequestMetersAreServedInPrometheusFormat() throws Exception {
    Path dir = tmp.resolve("m");
    ModelGenerator.make("tiny", ModelGenerator.Options.defaults(), dir);
    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    try (Ops ops = Backends.create("cpu");
        LoadedModel lm = ModelLoader.load(dir, ops);
        Engine engine =
            new Engine(
                new LlamaModel(lm.config(), lm.weights(), ops, LlamaModel.LoraKernel.SGMV),
                EngineConfig.defaults().withKvBlocks(32),
                id -> {
                  throw new java.util.NoSuchElementException(id);
                },
                null)) {
      ConsumerMetrics metrics = new ConsumerMetrics(registry, engine, () -> 3, null);
      var f =
          engine.submit(
              new GenerationRequest(
                  "a", new int[] {1, 5, 6}, null, SamplingParams.greedy(5), 0, 0, "t"));
      var unknownAdapter =
          engine.submit(
              new GenerationRequest("u", new int[] {1, 5, 6}, "x", SamplingParams.greedy(5)));
      engine.publishAdapterInfo(); // the engine tells the meters of each snapshot
      assertEquals(Map.of("x", 1.0), series(registry, "lorastream.adapter.requests.waiting"));
      assertEquals(Map.of("x", 0.0), series(registry, "lorastream.adapter.requests.running"));
      engine.runUntilIdle();
      assertEquals(EngineError.UNKNOWN_ADAPTER, unknownAdapter.join().errorCode());
      engine.publishAdapterInfo();
      assertEquals(
          Map.of(),
          series(registry, "lorastream.adapter.requests.waiting"),
          "an adapter without work has no series");
      InferenceRequest req =
          InferenceRequest.newBuilder()
              .setRequestId("a")
              .setTenantId("t")
              .setCreatedEpochMs(0)
              .build();
      metrics.result(Results.of(req, f.join(), 0, "b1", "c1"));
      metrics.result(Results.error(req, ErrorCode.UNKNOWN_ADAPTER, "no", "b1", "c1"));
      metrics.batchReceived(2);
      String body = registry.scrape();
      for (String line :
          List.of(
              "lorastream_engine_tokens_generated_total 5.0",
              "lorastream_consumer_batches_inflight 3.0",
              "lorastream_consumer_requests_total{code=\"none\",outcome=\"ok\"} 1.0",
              "lorastream_consumer_requests_total{code=\"UNKNOWN_ADAPTER\",outcome=\"error\"} 1.0",
              "lorastream_consumer_batch_size_requests_count 1",
              "lorastream_adapters_host_hits_total 0.0",
              "lorastream_adapters_host_misses_total 1.0",
              "lorastream_adapters_host_failures_total 1.0",
              "lorastream_adapters_host_evictions_total 0.0",
              "lorastream_adapters_host_evicted_bytes_total 0.0",
              "lorastream_adapters_host_resident_bytes 0.0",
              "lorastream_adapters_host_resident_entries 0.0",
              "lorastream_adapters_host_load_seconds_count 1",
              "lorastream_tenant_served_tokens_total{kind=\"prompt\",tenant=\"t\"} 3.0",
              "lorastream_tenant_served_tokens_total{kind=\"generated\",tenant=\"t\"} 5.0",
              "lorastream_engine_pool_pages{holder=\"kv\"} 0.0",
              "lorastream_engine_pool_pages{holder=\"adapter\"} 0.0",
              "lorastream_engine_pool_pages{holder=\"free\"} " + engine.poolPages() + ".0")) {
        assertTrue(body.contains(line), line + " in\n" + body);
      }
    }
  }

  @Test
  void timeToFirstTokenAndTimePerOutputTokenComeFromEachResultsTimings() throws Exception {
    Path dir = tmp.resolve("m2");
    ModelGenerator.make("tiny", ModelGenerator.Options.defaults(), dir);
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    try (Ops ops = Backends.create("cpu");
        LoadedModel lm = ModelLoader.load(dir, ops);
        Engine engine =
            new Engine(
                new LlamaModel(lm.config(), lm.weights(), ops, LlamaModel.LoraKernel.SGMV),
                EngineConfig.defaults().withKvBlocks(8),
                id -> {
                  throw new java.util.NoSuchElementException(id);
                },
                null)) {
      ConsumerMetrics metrics = new ConsumerMetrics(registry, engine, () -> 0, null);
      // first token 100 ms after creation, the 4th (last) 400 ms after: 100 ms per token after
      metrics.result(
          InferenceResult.newBuilder()
              .setRequestId("a")
              .setTenantId("t")
              .setText("abcd")
              .setTokenIds(List.of(5, 6, 7, 8))
              .setFinishReason(FinishReason.LENGTH)
              .setUsage(new Usage(3, 4))
              .setTimings(new Timings(50L, 100L, 400L))
              .build());
      Timer ttft = registry.get("lorastream.consumer.time.to.first.token").timer();
      Timer tpot = registry.get("lorastream.consumer.time.per.output.token").timer();
      assertEquals(1, ttft.count());
      assertEquals(100.0, ttft.totalTime(TimeUnit.MILLISECONDS));
      assertEquals(1, tpot.count());
      assertEquals(100.0, tpot.totalTime(TimeUnit.MILLISECONDS));
      assertEquals(
          400.0,
          registry
              .get("lorastream.consumer.request.latency")
              .timer()
              .totalTime(TimeUnit.MILLISECONDS));
    }
  }

  @Test
  void pastTheCapTheBusiestAdaptersKeepTheirSeriesAndTheRestAreSummedUnderOther() {
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    AdapterMeters meters = new AdapterMeters(registry, 2);
    meters.update(
        List.of(
            new AdapterInfo("c", 1, 0, Tier.BACKEND),
            new AdapterInfo("a", 3, 1, Tier.BACKEND),
            new AdapterInfo("e", 0, 1, Tier.NONE),
            new AdapterInfo("b", 0, 2, Tier.HOST),
            new AdapterInfo("d", 0, 1, Tier.LOADING)));
    assertEquals(
        Map.of("a", 3.0, "b", 0.0, "_other", 1.0),
        series(registry, "lorastream.adapter.requests.running"));
    assertEquals(
        Map.of("a", 1.0, "b", 2.0, "_other", 2.0),
        series(registry, "lorastream.adapter.requests.waiting"));
    assertEquals(
        Map.of(
            "a/backend", 1.0,
            "b/host", 1.0,
            "_other/backend", 1.0,
            "_other/loading", 1.0,
            "_other/none", 1.0),
        series(registry, "lorastream.adapter.resident"));

    // "a" went idle and "b" moved to the backend: within the cap again, no _other
    meters.update(
        List.of(new AdapterInfo("b", 1, 0, Tier.BACKEND), new AdapterInfo("c", 1, 0, Tier.HOST)));
    assertEquals(
        Map.of("b", 1.0, "c", 1.0), series(registry, "lorastream.adapter.requests.running"));
    assertEquals(
        Map.of("b", 0.0, "c", 0.0), series(registry, "lorastream.adapter.requests.waiting"));
    assertEquals(
        Map.of("b/backend", 1.0, "c/host", 1.0), series(registry, "lorastream.adapter.resident"));

    meters.update(List.of());
    assertEquals(0, registry.find("lorastream.adapter.requests.running").gauges().size());
    assertEquals(0, registry.find("lorastream.adapter.requests.waiting").gauges().size());
    assertEquals(0, registry.find("lorastream.adapter.resident").gauges().size());
  }

  @Test
  void theCapIsReadFromItsPropertyAndABadValueNamesTheKey() {
    assertEquals(100, AdapterMeters.maxSeriesFromProperty());
    System.setProperty(AdapterMeters.MAX_SERIES_PROPERTY, "-1");
    try {
      var e = assertThrows(IllegalArgumentException.class, AdapterMeters::maxSeriesFromProperty);
      assertTrue(
          e.getMessage().startsWith("lorastream.metrics.max-adapter-series=-1 is invalid"),
          e.getMessage());
    } finally {
      System.clearProperty(AdapterMeters.MAX_SERIES_PROPERTY);
    }
  }

  /** Each gauge of {@code name} by its tags' values ({@code adapter} or {@code adapter/tier}). */
  private static Map<String, Double> series(MeterRegistry registry, String name) {
    Map<String, Double> out = new HashMap<>();
    for (Gauge g : registry.find(name).gauges()) {
      String key = g.getId().getTag("adapter");
      String tier = g.getId().getTag("tier");
      out.put(tier == null ? key : key + "/" + tier, g.value());
    }
    return out;
  }
}
