package dev.lorastream.consumer;

import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/**
 * The consumer's {@code /health} rule: healthy while its poll loop runs ({@link
 * InferenceConsumer#run} has subscribed to {@code lora.batches} and not yet returned), its engine
 * loop has not stopped on an error, and its adapter catalog reader is live ({@link
 * AdapterCatalog#live}: its thread runs and has been neither stuck nor failing for 15 s). So it is
 * DOWN while the model loads and the catalog catches up, from the moment the engine fails (the poll
 * loop then exits on its next turn and the process exits for a restart), and while the catalog
 * reader is dead or stuck (requests for adapters registered meanwhile would be refused as unknown).
 * Volatile reads only: a probe never waits on the Kafka clients or the engine. Thread-safe.
 */
final class ConsumerHealth implements BooleanSupplier {
  private final Supplier<Throwable> engineFatal;
  private final BooleanSupplier catalogLive;
  private volatile boolean polling;

  /**
   * @param engineFatal the error that stopped the engine loop, null while it runs
   * @param catalogLive whether the adapter catalog reader is live ({@link AdapterCatalog#live})
   */
  ConsumerHealth(Supplier<Throwable> engineFatal, BooleanSupplier catalogLive) {
    this.engineFatal = engineFatal;
    this.catalogLive = catalogLive;
  }

  /** The poll loop started (true) or ended, by {@code stop} or an error (false). */
  void polling(boolean on) {
    polling = on;
  }

  @Override
  public boolean getAsBoolean() {
    return polling && engineFatal.get() == null && catalogLive.getAsBoolean();
  }
}
