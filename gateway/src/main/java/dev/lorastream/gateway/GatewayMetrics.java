package dev.lorastream.gateway;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Timer;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The gateway's meters, scraped at its {@code GET /metrics}: {@code
 * lorastream_gateway_requests_seconds} (a histogram per route template, status and tenant: the
 * whole exchange, from the first byte read to the last written, streams included), {@code
 * lorastream_gateway_streams_open} and {@code lorastream_gateway_rate_limited_total} per tenant. To
 * cap the label's cardinality the first {@link #MAX_NAMED_TENANTS} tenants seen keep their name and
 * later ones share {@code other}; a request with no valid key counts under {@code none}, and a path
 * that matches no route under {@code unmatched}.
 */
final class GatewayMetrics {
  static final int MAX_NAMED_TENANTS = 100;
  static final String OTHER = "other";
  static final String NONE = "none";

  private final PrometheusMeterRegistry registry =
      new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
  private final Map<String, String> tenantLabels = new ConcurrentHashMap<>();
  private final AtomicInteger openStreams = new AtomicInteger();

  GatewayMetrics() {
    Gauge.builder("lorastream.gateway.streams.open", openStreams, AtomicInteger::get)
        .description("server-sent-event streams being answered")
        .register(registry);
  }

  PrometheusMeterRegistry registry() {
    return registry;
  }

  /** One finished exchange. */
  void request(String route, int status, String tenant, double millis) {
    Timer.builder("lorastream.gateway.requests")
        .description("HTTP exchanges, first byte read to last byte written")
        .tags("route", route, "status", Integer.toString(status), "tenant", tenantLabel(tenant))
        .serviceLevelObjectives(BUCKETS)
        .register(registry)
        .record((long) (millis * 1e6), TimeUnit.NANOSECONDS);
  }

  void rateLimited(String tenant) {
    Counter.builder("lorastream.gateway.rate.limited")
        .description("requests answered 429 (over the tenant's rate or token budget)")
        .tag("tenant", tenantLabel(tenant))
        .register(registry)
        .increment();
  }

  void streamOpened() {
    openStreams.incrementAndGet();
  }

  void streamClosed() {
    openStreams.decrementAndGet();
  }

  /** The label {@code tenant} counts under (see the class comment). */
  String tenantLabel(String tenant) {
    if (tenant == null) {
      return NONE;
    }
    String known = tenantLabels.get(tenant);
    if (known != null) {
      return known;
    }
    synchronized (tenantLabels) {
      return tenantLabels.computeIfAbsent(
          tenant, t -> tenantLabels.size() < MAX_NAMED_TENANTS ? t : OTHER);
    }
  }

  private static final Duration[] BUCKETS = {
    Duration.ofMillis(5),
    Duration.ofMillis(10),
    Duration.ofMillis(25),
    Duration.ofMillis(50),
    Duration.ofMillis(100),
    Duration.ofMillis(250),
    Duration.ofMillis(500),
    Duration.ofSeconds(1),
    Duration.ofMillis(2500),
    Duration.ofSeconds(5),
    Duration.ofSeconds(10),
    Duration.ofSeconds(30),
    Duration.ofSeconds(60),
    Duration.ofSeconds(120),
  };
}
