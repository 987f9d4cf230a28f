package dev.lorastream.consumer;

import dev.lorastream.engine.sched.EngineConfig;
import dev.lorastream.schemas.MetricsServer;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The inference consumer service: settings, engine keys included, from {@code -Dlorastream.*} or
 * {@code LORASTREAM_*} ({@link ConsumerSettings}), {@code /metrics} and {@code /health} ({@link
 * ConsumerHealth}) on one port, a shutdown hook. Exits non-zero when serving fails for good, so
 * that a supervisor restarts it and its uncommitted batches are redelivered.
 */
public final class ConsumerMain {
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
            : MetricsServer.start(
                registry,
                s.metricsPort(),
                ConsumerSettings.METRICS_PORT,
                () -> {
                  InferenceConsumer current = serving.get();
                  return current != null && current.healthy();
                });
    InferenceConsumer c = new InferenceConsumer(s, EngineConfig.defaults(), registry);
    serving.set(c);
    Thread main = Thread.currentThread();
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  c.stop();
                  try {
                    main.join(10_000);
                  } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                  }
                }));
    System.err.printf(
        "lorastream consumer %s: model %s, group %s%s%n",
        s.consumerId(),
        s.modelDir(),
        s.groupId(),
        metrics == null ? "" : ", /metrics and /health on :" + metrics.port());
    int code = 0;
    try {
      c.run();
    } catch (RuntimeException e) {
      System.err.println("consumer " + s.consumerId() + " failed: " + e);
      code = 1;
    } finally {
      c.close();
      if (metrics != null) {
        metrics.close();
      }
    }
    System.exit(code);
  }
}
