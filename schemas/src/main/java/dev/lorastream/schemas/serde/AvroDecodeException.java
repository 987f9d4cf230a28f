package dev.lorastream.schemas.serde;

import org.apache.kafka.common.errors.SerializationException;

/**
 * Bytes that {@link AvroDeserializer} could not turn into a record, with a machine-readable {@link
 * Reason} (for the {@code lorastream.dlq.reason} header) and a message that says what was wrong
 * with which bytes.
 *
 * <p>All reasons but {@link Reason#REGISTRY_UNAVAILABLE} are properties of the bytes: retrying
 * gives the same answer, so such a record belongs in the dead-letter topic. REGISTRY_UNAVAILABLE is
 * transient: retry, do not dead-letter.
 */
public class AvroDecodeException extends SerializationException {

  /** What was wrong. */
  public enum Reason {
    /** Fewer than the 5 header bytes (magic byte + schema id). */
    TOO_SHORT,
    /** The first byte is not the Confluent magic byte 0. */
    BAD_MAGIC,
    /** The registry does not know the schema id in bytes 1..4. */
    UNKNOWN_SCHEMA_ID,
    /**
     * The writer schema cannot be resolved into the reader's (wrong record type, incompatible
     * change).
     */
    INCOMPATIBLE_SCHEMA,
    /**
     * The Avro body is truncated, malformed or followed by extra bytes, or claims an array or map
     * count, a string or bytes length, that its remaining bytes cannot hold.
     */
    BAD_PAYLOAD,
    /** The registry could not be reached or failed (5xx): transient. */
    REGISTRY_UNAVAILABLE
  }

  private final Reason reason;

  public AvroDecodeException(Reason reason, String message, Throwable cause) {
    super(reason + ": " + message, cause);
    this.reason = reason;
  }

  public Reason reason() {
    return reason;
  }

  /**
   * True when the same bytes will always fail, so the record should go to the dead-letter topic.
   */
  public boolean isPermanent() {
    return reason != Reason.REGISTRY_UNAVAILABLE;
  }
}
