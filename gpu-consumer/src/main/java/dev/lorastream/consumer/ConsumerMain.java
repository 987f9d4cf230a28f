package dev.lorastream.consumer;

import dev.lorastream.engine.sched.EngineConfig;
import dev.lorastream.schemas.MetricsServer;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The inference consumer service: settings, engine keys included, from {@code -Dlorastream.*} or
 * {@code LORASTREAM_*} ({@link ConsumerSettings}), {@code /metrics} and {@code /health} ({@link
 * ConsumerHealth}) on one port, a shutdown hook. Exits non-zero when serving fails for good, so
 * that a supervisor restarts it and its uncommitted batches are redelivered.
 */
public final class ConsumerMain {
  /** The most a SIGTERM waits for the consumer to close before the JVM halts anyway. */
  static final Duration CLOSE_TIMEOUT = Duration.ofSeconds(10);

  private ConsumerMain() {}

  public static void main(String[] args) throws Exception {
    Map<String, String> props = ConsumerSettings.fromEnvironment();
    ConsumerSettings.exportEngineKeys(props); // before the engine reads its system properties
    ConsumerSettings s = ConsumerSettings.from(props);
    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    // The port is bound before the model loads (a busy port fails fast); /health is DOWN until the
    // poll loop runs.
    AtomicReference<InferenceConsumer> serving = new AtomicReference<>();
    MetricsServer metrics =
        s.metricsPort() < 0
            ? null
            : MetricsServer.startProbes(
                registry,
                s.metricsPort(),
                ConsumerSettings.METRICS_PORT,
                new MetricsServer.Probes(
                    () -> {
                      InferenceConsumer current = serving.get();
                      return current == null || current.live() ? null : "the engine failed";
                    },
                    () -> {
                      InferenceConsumer current = serving.get();
                      return current != null && current.ready() ? null : "";
                    }));
    InferenceConsumer c = new InferenceConsumer(s, EngineConfig.defaults(), registry);
    serving.set(c);
    // SIGTERM: stop the poll loop and wait until the consumer is closed, not until the main thread
    // ends: main ends in System.exit, which blocks while this hook runs, so waiting for it always
    // took the whole timeout (10 s).
    CountDownLatch closed = new CountDownLatch(1);
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () ->
                    stopAndAwaitClose(
                        c::drain, closed, CLOSE_TIMEOUT.plusMillis(s.shutdownGraceMs()))));
    System.err.printf(
        "lorastream consumer %s: model %s, group %s, tenancy %s%s%n",
        s.consumerId(),
        s.modelDir(),
        s.groupId(),
        s.tenancy().configValue(),
        metrics == null ? "" : ", /metrics and /health on :" + metrics.port());
    int code = 0;
    try {
      c.run();
    } catch (RuntimeException e) {
      System.err.println("consumer " + s.consumerId() + " failed: " + e);
      code = 1;
    } finally {
      try {
        c.close();
        if (metrics != null) {
          metrics.close();
        }
      } finally {
        closed.countDown();
      }
    }
    System.exit(code);
  }

  /**
   * The shutdown hook's work: asks the poll loop to stop, then waits until {@code closed} is
   * counted down (the consumer is closed), at most {@code timeout}. Returns as soon as it is.
   *
   * @return true when the consumer closed within the timeout
   */
  static boolean stopAndAwaitClose(Runnable stop, CountDownLatch closed, Duration timeout) {
    stop.run();
    try {
      return closed.await(timeout.toMillis(), TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }
}
