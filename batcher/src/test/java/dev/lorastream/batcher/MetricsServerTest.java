package dev.lorastream.batcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

/** The batcher's meters in Prometheus text format over HTTP, on a port chosen at start (0 = any). */
class MetricsServerTest {

  @Test
  void servesBatcherMetersAndHealth() throws Exception {
    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    BatcherMetrics metrics = new BatcherMetrics(registry, BatcherConfig.defaults());
    metrics.rejected("UNKNOWN_ADAPTER");
    metrics.accepted();
    metrics.bufferChanged(3, 90);
    AtomicBoolean healthy = new AtomicBoolean(true);
    try (MetricsServer server = MetricsServer.start(registry, 0, healthy::get);
        HttpClient http = HttpClient.newHttpClient()) {
      URI base = URI.create("http://127.0.0.1:" + server.port());
      HttpResponse<String> r = http.send(HttpRequest.newBuilder(base.resolve("/metrics")).build(),
          HttpResponse.BodyHandlers.ofString());
      assertEquals(200, r.statusCode());
      assertTrue(r.headers().firstValue("Content-Type").orElse("").startsWith("text/plain; version=0.0.4"));
      String body = r.body();
      assertTrue(body.contains("lorastream_batcher_requests_total{code=\"UNKNOWN_ADAPTER\",outcome=\"rejected\"} 1.0"), body);
      assertTrue(body.contains("lorastream_batcher_requests_total{code=\"none\",outcome=\"accepted\"} 1.0"), body);
      assertTrue(body.contains("lorastream_batcher_buffered_requests 3.0"), body);
      assertTrue(body.contains("lorastream_batcher_batch_fill"), body);
      assertEquals(200, http.send(HttpRequest.newBuilder(base.resolve("/health")).build(),
          HttpResponse.BodyHandlers.ofString()).statusCode());
      healthy.set(false);
      assertEquals(503, http.send(HttpRequest.newBuilder(base.resolve("/health")).build(),
          HttpResponse.BodyHandlers.ofString()).statusCode());
    }
  }
}
