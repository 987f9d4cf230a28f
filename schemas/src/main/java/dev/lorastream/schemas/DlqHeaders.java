package dev.lorastream.schemas;

/**
 * Header names on a dead-lettered record (e.g. in {@link Topics#REQUESTS_DLQ}). The record keeps
 * the original key and value bytes; these headers, UTF-8 strings, say where it came from and why it
 * could not be processed. The original record's headers are kept as well.
 */
public final class DlqHeaders {

  /**
   * Machine-readable reason, e.g. a {@link dev.lorastream.schemas.serde.AvroDecodeException.Reason}
   * name ({@code BAD_MAGIC}, {@code UNKNOWN_SCHEMA_ID}, ...).
   */
  public static final String REASON = "lorastream.dlq.reason";

  /** Source topic of the original record. */
  public static final String TOPIC = "lorastream.dlq.topic";

  /** Source partition of the original record, decimal. */
  public static final String PARTITION = "lorastream.dlq.partition";

  /** Source offset of the original record, decimal. */
  public static final String OFFSET = "lorastream.dlq.offset";

  /** The exception's class name and message: what a person reads to act on it. */
  public static final String EXCEPTION = "lorastream.dlq.exception";

  /** Epoch milliseconds when the record was dead-lettered, decimal. */
  public static final String TIMESTAMP = "lorastream.dlq.timestamp";

  /**
   * Id of the application instance that dead-lettered it (e.g. the batcher's application.id and
   * host).
   */
  public static final String SOURCE_APP = "lorastream.dlq.source.app";

  private DlqHeaders() {}
}
