package dev.lorastream.engine.lora;

/**
 * Where the engine gets adapters by id (a directory, the adapter catalog, a test's map). Called on
 * a background thread; may block on I/O.
 */
@FunctionalInterface
public interface AdapterSource {
  /**
   * @throws java.util.NoSuchElementException when no adapter has this id (the request fails with
   *     UNKNOWN_ADAPTER)
   * @throws RuntimeException when the adapter exists but cannot be loaded (ADAPTER_INVALID)
   */
  LoraAdapter load(String adapterId) throws Exception;
}
