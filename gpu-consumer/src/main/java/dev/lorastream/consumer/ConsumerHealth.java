package dev.lorastream.consumer;

import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/**
 * The consumer's {@code /health} rule: healthy while its poll loop runs ({@link
 * InferenceConsumer#run} has subscribed to {@code lora.batches} and not yet returned) and its
 * engine loop has not stopped on an error. So it is DOWN while the model loads and the catalog
 * catches up, and from the moment the engine fails (the poll loop then exits on its next turn and
 * the process exits for a restart). Two volatile reads: a probe never waits on the Kafka clients or
 * the engine. Thread-safe.
 */
final class ConsumerHealth implements BooleanSupplier {
  private final Supplier<Throwable> engineFatal;
  private volatile boolean polling;

  /**
   * @param engineFatal the error that stopped the engine loop, null while it runs
   */
  ConsumerHealth(Supplier<Throwable> engineFatal) {
    this.engineFatal = engineFatal;
  }

  /** The poll loop started (true) or ended, by {@code stop} or an error (false). */
  void polling(boolean on) {
    polling = on;
  }

  @Override
  public boolean getAsBoolean() {
    return polling && engineFatal.get() == null;
  }
}
