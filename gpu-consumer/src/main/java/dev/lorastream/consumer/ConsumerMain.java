package dev.lorastream.consumer;

import dev.lorastream.engine.sched.EngineConfig;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.util.Map;

/**
 * The inference consumer service: settings, engine keys included, from {@code -Dlorastream.*} or
 * {@code LORASTREAM_*} ({@link ConsumerSettings}), a Prometheus endpoint, a shutdown hook. Exits non-zero
 * when serving fails for good, so that a supervisor restarts it and its uncommitted batches are redelivered.
 */
public final class ConsumerMain {
  private ConsumerMain() {}

  public static void main(String[] args) throws Exception {
    Map<String, String> props = ConsumerSettings.fromEnvironment();
    ConsumerSettings.exportEngineKeys(props); // before the engine reads its system properties
    ConsumerSettings s = ConsumerSettings.from(props);
    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    MetricsServer metrics = s.metricsPort() >= 0 ? MetricsServer.start(registry, s.metricsPort()) : null;
    InferenceConsumer c = new InferenceConsumer(s, EngineConfig.defaults(), registry);
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
        s.consumerId(), s.modelDir(), s.groupId(), metrics == null ? "" : ", metrics on :" + metrics.port() + "/metrics");
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
