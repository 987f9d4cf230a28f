package dev.lorastream.schemas;

import dev.lorastream.schemas.serde.AvroDecodeException;
import java.util.Map;
import java.util.Objects;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.serialization.Deserializer;

/**
 * How a {@code lora.adapters} record is read, the one rule for every reader of the catalog (the
 * batcher's adapter store, the consumer's {@code AdapterCatalog}, the batcher's writer of {@code
 * lora.adapters.dlq}), so that they cannot disagree about which adapters exist.
 *
 * <ul>
 *   <li>a record without a key (null or blank) is skipped ({@link #NO_KEY});
 *   <li>a null value is a tombstone: the adapter is deleted;
 *   <li>a value that can never be decoded is skipped, with the {@link AvroDecodeException.Reason}
 *       name as the reason; a decoding failure that is not the record's fault (the registry cannot
 *       be reached) is thrown, so the reader retries the record instead of losing it;
 *   <li>a decoded record whose {@code adapterId} is not its key ({@link #KEY_MISMATCH}) or whose
 *       {@code sourceUri} is blank ({@link #NO_SOURCE}) is skipped;
 *   <li>anything else registers (or replaces) the adapter.
 * </ul>
 *
 * A skipped record changes nothing: the adapter keeps its previous entry, if any. Thread-safe when
 * the decoder is.
 */
public final class AdapterCatalogRule {
  /** Skip reason: the record has no key (null or blank), so it names no adapter. */
  public static final String NO_KEY = "NO_KEY";

  /** Skip reason: the record's {@code adapterId} differs from its key. */
  public static final String KEY_MISMATCH = "KEY_MISMATCH";

  /** Skip reason: the record's {@code sourceUri} is blank. */
  public static final String NO_SOURCE = "NO_SOURCE";

  /** What a record does to the catalog. */
  public sealed interface Outcome permits Put, Delete, Skip {}

  /** Registers or replaces {@code adapterId}. */
  public record Put(String adapterId, AdapterRecord record) implements Outcome {}

  /** A tombstone: {@code adapterId} is deleted. */
  public record Delete(String adapterId) implements Outcome {}

  /**
   * The record is skipped and changes nothing.
   *
   * @param reason machine-readable (the {@code lorastream.dlq.reason} header): {@link #NO_KEY},
   *     {@link #KEY_MISMATCH}, {@link #NO_SOURCE} or an {@link AvroDecodeException.Reason} name
   * @param detail for a person: the exception class and message, or what was wrong
   */
  public record Skip(String reason, String detail) implements Outcome {}

  private final Deserializer<AdapterRecord> decoder;

  /**
   * @param decoder decodes {@code lora.adapters} values (throws {@link AvroDecodeException})
   */
  public AdapterCatalogRule(Deserializer<AdapterRecord> decoder) {
    this.decoder = Objects.requireNonNull(decoder, "decoder");
  }

  /** The rule with the topic's own value deserializer ({@link Topics#ADAPTERS}). */
  public static AdapterCatalogRule of(Map<String, ?> serdeConfig) {
    return new AdapterCatalogRule(Topics.ADAPTERS.valueSerde(serdeConfig).deserializer());
  }

  /**
   * What one record does to the catalog.
   *
   * @param topic the topic it was read from (for the decoder)
   * @param headers its headers (may be null)
   * @param key its key, UTF-8 decoded
   * @param value its value bytes; null for a tombstone
   * @throws AvroDecodeException when decoding failed for a reason that is not the record's ({@link
   *     AvroDecodeException#isPermanent()} false): retry the record later
   * @throws RuntimeException when the decoder failed in any other way: also retried, never skipped
   */
  public Outcome read(String topic, Headers headers, String key, byte[] value) {
    if (key == null || key.isBlank()) {
      return new Skip(
          NO_KEY, "a " + Topics.ADAPTERS.name() + " record needs the adapter id as its key");
    }
    if (value == null) {
      return new Delete(key);
    }
    AdapterRecord r;
    try {
      r =
          headers == null
              ? decoder.deserialize(topic, value)
              : decoder.deserialize(topic, headers, value);
    } catch (AvroDecodeException e) {
      if (!e.isPermanent()) {
        throw e;
      }
      return new Skip(e.reason().name(), e.getClass().getName() + ": " + e.getMessage());
    }
    if (r == null) {
      return new Delete(key);
    }
    if (!key.equals(r.getAdapterId())) {
      return new Skip(
          KEY_MISMATCH,
          "the record's adapterId '" + r.getAdapterId() + "' is not its key '" + key + "'");
    }
    if (r.getSourceUri() == null || r.getSourceUri().isBlank()) {
      return new Skip(NO_SOURCE, "adapter '" + key + "' has a blank sourceUri");
    }
    return new Put(key, r);
  }

  /**
   * Whether replacing entry {@code before} with {@code after} (either null: absent) changes the
   * adapter's weights, so that every loaded copy must be dropped: an adapter added or deleted, a
   * new {@code sourceUri}, a new {@code sha256}, or a new registration ({@code createdEpochMs}; the
   * files behind the same URI may have been replaced). A change of owner, rank, base model or size
   * alone is not: those are read from the record on each request, or are informational.
   */
  public static boolean weightsChanged(AdapterRecord before, AdapterRecord after) {
    if (before == null || after == null) {
      return before != after;
    }
    return !Objects.equals(before.getSourceUri(), after.getSourceUri())
        || !Objects.equals(before.getSha256(), after.getSha256())
        || before.getCreatedEpochMs() != after.getCreatedEpochMs();
  }
}
