package dev.lorastream.consumer;

import com.sun.net.httpserver.HttpServer;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;

/** Serves a Prometheus registry's scrape text at {@code GET /metrics} (JDK HTTP server, one thread). */
public final class MetricsServer implements AutoCloseable {
  private final HttpServer server;

  private MetricsServer(HttpServer server) {
    this.server = server;
  }

  /** @param port 0 for a free port */
  public static MetricsServer start(PrometheusMeterRegistry registry, int port) {
    try {
      HttpServer s = HttpServer.create(new InetSocketAddress(port), 0);
      s.createContext(
          "/metrics",
          ex -> {
            byte[] body = registry.scrape().getBytes(StandardCharsets.UTF_8);
            ex.getResponseHeaders().add("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
            ex.sendResponseHeaders(200, body.length);
            try (OutputStream o = ex.getResponseBody()) {
              o.write(body);
            }
          });
      s.start();
      return new MetricsServer(s);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot serve metrics on port " + port + ": " + e.getMessage(), e);
    }
  }

  public int port() {
    return server.getAddress().getPort();
  }

  @Override
  public void close() {
    server.stop(0);
  }
}
