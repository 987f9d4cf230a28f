package dev.lorastream.cli;

import dev.lorastream.batcher.BatcherApp;
import dev.lorastream.batcher.BatcherConfig;
import dev.lorastream.consumer.InferenceConsumer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.Map;

/**
 * The demo's serving side on a running broker, for the gateway's tests and {@code bench gateway}:
 * the batcher and one CPU inference consumer (the demo's engine settings), which serves on a thread
 * of its own. {@link #close} stops the consumer, waits for its thread, then closes it and the
 * batcher.
 */
final class ServingPipeline implements AutoCloseable {
  private final BatcherApp batcher;
  private final InferenceConsumer consumer;
  private final Thread serving;

  private ServingPipeline(BatcherApp batcher, InferenceConsumer consumer, Thread serving) {
    this.batcher = batcher;
    this.consumer = consumer;
    this.serving = serving;
  }

  /**
   * Starts both on {@code bootstrap} and waits for the batcher to run.
   *
   * @param name the batcher's state folder and the consumer's group ({@code name-consumer}), and
   *     the thread's name
   */
  static ServingPipeline start(DemoFixtures fx, String bootstrap, String registry, String name)
      throws Exception {
    BatcherApp batcher =
        BatcherApp.start(
            BatcherConfig.fromProperties(
                DemoFixtures.batcherProperties(bootstrap, registry, name)));
    InferenceConsumer consumer;
    try {
      consumer =
          new InferenceConsumer(
              fx.consumerSettings(bootstrap, registry, name + "-consumer", Map.of()),
              DemoFixtures.engineConfig(),
              new SimpleMeterRegistry());
    } catch (Exception | Error e) {
      batcher.close();
      throw e;
    }
    Thread serving =
        Thread.ofPlatform()
            .name(name + "-consumer")
            .start(() -> DemoFixtures.serve(consumer, name));
    ServingPipeline p = new ServingPipeline(batcher, consumer, serving);
    if (!batcher.awaitRunning(Duration.ofSeconds(60))) {
      p.close();
      throw new IllegalStateException(name + ": the batcher did not start running within 60 s");
    }
    return p;
  }

  @Override
  public void close() throws Exception {
    try {
      consumer.stop();
      serving.join(10_000);
      consumer.close();
    } finally {
      batcher.close();
    }
  }
}
