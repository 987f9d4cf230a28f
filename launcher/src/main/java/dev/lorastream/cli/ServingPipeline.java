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
   * @param name in the batcher's state folder; {@code name-consumer} is the consumer's id and its
   *     thread's name
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
    try {
      if (!batcher.awaitRunning(Duration.ofSeconds(60))) {
        throw new IllegalStateException(name + ": the batcher did not reach RUNNING");
      }
    } catch (Exception | Error e) {
      try {
        p.close();
      } catch (Exception s) {
        e.addSuppressed(s);
      }
      throw e;
    }
    return p;
  }

  /**
   * @throws IllegalStateException when the consumer's thread is still running 20 s after {@code
   *     stop} and an interrupt: the consumer is then left open (closing it under its own thread's
   *     poll would fail half-way), the batcher is closed all the same
   */
  @Override
  public void close() throws Exception {
    try {
      consumer.stop();
      serving.join(10_000);
      if (serving.isAlive()) {
        serving.interrupt();
        serving.join(10_000);
      }
      if (serving.isAlive()) {
        throw new IllegalStateException(
            serving.getName() + " is still serving 20 s after stop and an interrupt");
      }
      consumer.close();
    } finally {
      batcher.close();
    }
  }
}
