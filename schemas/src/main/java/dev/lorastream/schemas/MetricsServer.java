package dev.lorastream.schemas;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/**
 * Every lorastream service's HTTP endpoint, on one port with the JDK's HTTP server: {@code GET
 * /metrics} (a Prometheus registry's scrape, text format 0.0.4), {@code GET /ready} and its older
 * name {@code /health} (200 {@code UP} while the service's readiness rule holds, 503 {@code DOWN}
 * otherwise, including when the rule throws) and {@code GET /live} (the same for its liveness rule:
 * down only when the process cannot recover and should be restarted). Requests are answered one at
 * a time on one daemon thread, so the health rule should be a cheap read; {@link #close} frees the
 * port and stops the thread.
 */
public final class MetricsServer implements AutoCloseable {
  /** Default port of every service's endpoint (each service runs in its own container). */
  public static final int DEFAULT_PORT = 9402;

  private static final String METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8";
  private static final String TEXT = "text/plain; charset=utf-8";

  private final HttpServer server;
  private final ExecutorService executor;

  private MetricsServer(HttpServer server, ExecutorService executor) {
    this.server = server;
    this.executor = executor;
  }

  /**
   * Binds {@code port} and starts serving; fails naming the port and its config key when it cannot
   * bind.
   *
   * @param port 0 = any free port (see {@link #port})
   * @param portKey the config key that set {@code port}, for the error message
   * @param healthy what {@code /health} reports; called on the server thread for each request
   */
  public static MetricsServer start(
      PrometheusMeterRegistry registry, int port, String portKey, BooleanSupplier healthy) {
    return startExplained(registry, port, portKey, () -> healthy.getAsBoolean() ? null : "");
  }

  /**
   * As {@link #start}, with a health rule that says why it is down: {@code /health} answers {@code
   * DOWN (reason)}.
   *
   * @param downReason null while healthy, otherwise why not (empty = no reason given); called on
   *     the server thread for each request
   */
  public static MetricsServer startExplained(
      PrometheusMeterRegistry registry, int port, String portKey, Supplier<String> downReason) {
    return startProbes(registry, port, portKey, new Probes(() -> null, downReason));
  }

  /**
   * What the probes say: each supplier gives null while up, otherwise why not ("" = no reason).
   *
   * @param live {@code /live}: whether the process should be left running (a liveness probe
   *     restarts it when down)
   * @param ready {@code /ready} and {@code /health}: whether it serves (a readiness probe)
   */
  public record Probes(Supplier<String> live, Supplier<String> ready) {}

  /** As {@link #startExplained}, with a liveness rule apart from readiness. */
  public static MetricsServer startProbes(
      PrometheusMeterRegistry registry, int port, String portKey, Probes probes) {
    HttpServer server;
    try {
      server = HttpServer.create(new InetSocketAddress(port), 0);
    } catch (IOException e) {
      throw new UncheckedIOException(
          "cannot serve /metrics and /health on port "
              + port
              + " ("
              + portKey
              + "): "
              + e.getMessage(),
          e);
    }
    server.createContext("/metrics", ex -> respond(ex, 200, METRICS_TYPE, registry.scrape()));
    server.createContext("/health", ex -> health(ex, probes.ready()));
    server.createContext("/ready", ex -> health(ex, probes.ready()));
    server.createContext("/live", ex -> health(ex, probes.live()));
    ExecutorService executor =
        Executors.newSingleThreadExecutor(
            r -> {
              Thread t = new Thread(r, "metrics-http-" + server.getAddress().getPort());
              t.setDaemon(true);
              return t;
            });
    server.setExecutor(executor);
    server.start();
    return new MetricsServer(server, executor);
  }

  /** The port actually bound. */
  public int port() {
    return server.getAddress().getPort();
  }

  private static void health(HttpExchange ex, Supplier<String> downReason) throws IOException {
    String why;
    try {
      why = downReason.get();
    } catch (RuntimeException e) { // a probe must get an answer, not a reset connection
      why = "the health check failed: " + e;
    }
    respond(
        ex,
        why == null ? 200 : 503,
        TEXT,
        (why == null ? "UP" : why.isEmpty() ? "DOWN" : "DOWN (" + why + ")") + "\n");
  }

  private static void respond(HttpExchange ex, int status, String type, String body)
      throws IOException {
    byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    ex.getResponseHeaders().set("Content-Type", type);
    ex.sendResponseHeaders(status, bytes.length);
    try (OutputStream out = ex.getResponseBody()) {
      out.write(bytes);
    }
  }

  @Override
  public void close() {
    server.stop(0);
    executor.shutdownNow();
  }
}
