package dev.lorastream.batcher;

import dev.lorastream.schemas.InferenceRequest;

/** What {@link DecodeProcessor} made of one {@code lora.requests} record. */
sealed interface Decoded {

  /** The value decoded into a request. */
  record Ok(InferenceRequest request) implements Decoded {}

  /**
   * The value could not be decoded; the original bytes go to the DLQ (the reason is in the
   * headers).
   */
  record Dead(byte[] value) implements Decoded {}
}
