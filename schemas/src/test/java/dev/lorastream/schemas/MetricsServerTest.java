package dev.lorastream.schemas;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Test;

/**
 * /metrics and /health over HTTP, on a port chosen at start (0 = any), as every service serves
 * them.
 */
class MetricsServerTest {
  private final PrometheusMeterRegistry registry =
      new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);

  @Test
  void servesTheScrapeAndTheHealthRule() throws Exception {
    registry.counter("lorastream.test.requests", "outcome", "ok").increment(2);
    AtomicBoolean healthy = new AtomicBoolean(true);
    try (MetricsServer server =
            MetricsServer.start(registry, 0, "test.metrics.port", healthy::get);
        HttpClient http = HttpClient.newHttpClient()) {
      HttpResponse<String> metrics = get(http, server, "/metrics");
      assertEquals(200, metrics.statusCode());
      assertEquals(
          "text/plain; version=0.0.4; charset=utf-8",
          metrics.headers().firstValue("Content-Type").orElse(""));
      assertTrue(
          metrics.body().contains("lorastream_test_requests_total{outcome=\"ok\"} 2.0"),
          metrics.body());

      HttpResponse<String> up = get(http, server, "/health");
      assertEquals(200, up.statusCode());
      assertEquals("UP\n", up.body());
      healthy.set(false);
      HttpResponse<String> down = get(http, server, "/health");
      assertEquals(503, down.statusCode());
      assertEquals("DOWN\n", down.body());
    }
  }

  @Test
  void aHealthRuleThatThrowsIsDownNotADroppedConnection() throws Exception {
    BooleanSupplier broken =
        () -> {
          throw new IllegalStateException("engine gone");
        };
    try (MetricsServer server = MetricsServer.start(registry, 0, "test.metrics.port", broken);
        HttpClient http = HttpClient.newHttpClient()) {
      HttpResponse<String> r = get(http, server, "/health");
      assertEquals(503, r.statusCode());
      assertTrue(r.body().startsWith("DOWN") && r.body().contains("engine gone"), r.body());
    }
  }

  @Test
  void anExplainedHealthRuleSaysWhyItIsDown() throws Exception {
    AtomicReference<String> why = new AtomicReference<>();
    try (MetricsServer server =
            MetricsServer.startExplained(registry, 0, "test.metrics.port", why::get);
        HttpClient http = HttpClient.newHttpClient()) {
      assertEquals("UP\n", get(http, server, "/health").body());
      why.set("no progress for 30000 ms");
      HttpResponse<String> down = get(http, server, "/health");
      assertEquals(503, down.statusCode());
      assertEquals("DOWN (no progress for 30000 ms)\n", down.body());
    }
  }

  @Test
  void liveAndReadyAnswerTheirOwnRulesAndHealthIsReady() throws Exception {
    AtomicReference<String> live = new AtomicReference<>();
    AtomicReference<String> ready = new AtomicReference<>("loading the model");
    try (MetricsServer server =
            MetricsServer.startProbes(
                registry, 0, "test.metrics.port", new MetricsServer.Probes(live::get, ready::get));
        HttpClient http = HttpClient.newHttpClient()) {
      assertEquals(200, get(http, server, "/live").statusCode(), "alive while not ready");
      assertEquals("DOWN (loading the model)\n", get(http, server, "/ready").body());
      assertEquals(503, get(http, server, "/health").statusCode());
      ready.set(null);
      assertEquals("UP\n", get(http, server, "/ready").body());
      assertEquals("UP\n", get(http, server, "/health").body());
      live.set("the engine failed");
      HttpResponse<String> dead = get(http, server, "/live");
      assertEquals(503, dead.statusCode());
      assertEquals("DOWN (the engine failed)\n", dead.body());
    }
  }

  @Test
  void closeFreesThePortAndABusyPortIsNamedWithItsKey() {
    int port;
    try (MetricsServer first = MetricsServer.start(registry, 0, "test.metrics.port", () -> true)) {
      port = first.port();
      UncheckedIOException busy =
          assertThrows(
              UncheckedIOException.class,
              () -> MetricsServer.start(registry, port, "test.metrics.port", () -> true));
      assertTrue(
          busy.getMessage().contains("port " + port + " (test.metrics.port)"), busy.getMessage());
    }
    try (MetricsServer again =
        MetricsServer.start(registry, port, "test.metrics.port", () -> true)) {
      assertEquals(port, again.port());
    }
  }

  private static HttpResponse<String> get(HttpClient http, MetricsServer server, String path)
      throws Exception {
    URI uri = URI.create("http://127.0.0.1:" + server.port() + path);
    return http.send(HttpRequest.newBuilder(uri).build(), HttpResponse.BodyHandlers.ofString());
  }
}
