package dev.lorastream.batcher;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import org.junit.jupiter.api.Test;

/**
 * The batcher's meters under the names Prometheus scrapes them by (what {@code /metrics} serves;
 * the endpoint itself is tested once, in schemas' MetricsServerTest).
 */
class BatcherMetricsTest {

  @Test
  void batcherMetersHaveTheirPrometheusNames() {
    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    BatcherMetrics metrics = new BatcherMetrics(registry, BatcherConfig.defaults());
    metrics.rejected("UNKNOWN_ADAPTER");
    metrics.accepted();
    metrics.bufferChanged(3, 90);
    String body = registry.scrape();
    assertTrue(
        body.contains(
            "lorastream_batcher_requests_total{code=\"UNKNOWN_ADAPTER\",outcome=\"rejected\"} 1.0"),
        body);
    assertTrue(
        body.contains("lorastream_batcher_requests_total{code=\"none\",outcome=\"accepted\"} 1.0"),
        body);
    assertTrue(body.contains("lorastream_batcher_buffered_requests 3.0"), body);
    assertTrue(body.contains("lorastream_batcher_batch_fill_ratio_bucket"), body);
  }
}
