package dev.lorastream.schemas.serde;

import dev.lorastream.schemas.registry.SchemaRegistryClient;
import dev.lorastream.schemas.registry.SchemaRegistryException;
import dev.lorastream.schemas.serde.AvroDecodeException.Reason;
import java.io.EOFException;
import java.io.IOException;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.avro.Schema;
import org.apache.avro.SchemaCompatibility;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.IndexedRecord;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.DatumReader;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.specific.SpecificData;
import org.apache.avro.specific.SpecificDatumReader;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.common.serialization.Deserializer;

/**
 * Reads records written in the Confluent Schema Registry wire format ({@link WireFormat}). The
 * writer schema is fetched by the id in the bytes (cached) and resolved into the reader schema with
 * Avro's rules, so data written with an older or newer compatible schema reads fine: fields the
 * reader added get their defaults, fields it lacks are skipped.
 *
 * <p>The reader schema is that of the generated class given to the constructor, or configured with
 * {@code specific.avro.value.type} / {@code specific.avro.key.type}; failing those, with {@code
 * specific.avro.reader=true}, the generated class named by the writer schema; otherwise records are
 * {@code GenericRecord}s with the writer schema (Confluent's behaviour). A null input gives null
 * (tombstone).
 *
 * <p>Before Avro reads a body, {@link AvroBounds} walks it with the writer schema and refuses every
 * array or map block count, string or bytes length that the bytes left cannot hold, so a record of
 * a few bytes cannot make the reader allocate gigabytes (BAD_PAYLOAD, naming the field, the count
 * and the bytes left).
 *
 * <p>Bytes that cannot be decoded raise {@link AvroDecodeException} (a Kafka {@code
 * SerializationException}) whose reason and message say what was wrong. Thread-safe once
 * configured.
 */
public class AvroDeserializer<T extends IndexedRecord> implements Deserializer<T> {

  private SchemaRegistryClient registry;
  private boolean ownsRegistry;
  private Class<? extends T> type;
  private boolean specificByWriterName;
  private final Map<Integer, Reading<T>> readers = new ConcurrentHashMap<>(); // by writer id

  /** How bodies of one writer schema are read: bounds checked first, then decoded. */
  private record Reading<T>(AvroBounds bounds, DatumReader<T> reader) {}

  /** For instantiation by class name; {@link #configure} must follow. */
  public AvroDeserializer() {}

  /** Reads into a generated class; {@link #configure} must follow to give the registry url. */
  public AvroDeserializer(Class<? extends T> type) {
    this.type = Objects.requireNonNull(type, "type");
  }

  /** Reads into a generated class with a registry client the caller owns; ready to use. */
  public AvroDeserializer(SchemaRegistryClient registry, Class<? extends T> type) {
    this.registry = Objects.requireNonNull(registry, "registry");
    this.type = Objects.requireNonNull(type, "type");
  }

  @Override
  @SuppressWarnings("unchecked")
  public void configure(Map<String, ?> configs, boolean isKey) {
    if (registry != null && !configs.containsKey(AvroSerdeConfig.SCHEMA_REGISTRY_URL)) {
      return; // injected client, type given
    }
    AvroSerdeConfig config = new AvroSerdeConfig(configs);
    if (type == null && config.specificType(isKey) != null) {
      Class<?> configured = config.specificType(isKey);
      if (!IndexedRecord.class.isAssignableFrom(configured)) {
        throw new ConfigException(
            isKey
                ? AvroSerdeConfig.SPECIFIC_AVRO_KEY_TYPE
                : AvroSerdeConfig.SPECIFIC_AVRO_VALUE_TYPE,
            configured.getName(),
            "not an Avro record class");
      }
      type = (Class<? extends T>) configured;
    }
    specificByWriterName = config.specificAvroReader();
    if (registry == null) {
      try {
        registry = SchemaRegistryClient.forUrl(config.schemaRegistryUrl());
      } catch (IllegalArgumentException e) {
        throw new ConfigException(
            AvroSerdeConfig.SCHEMA_REGISTRY_URL, config.schemaRegistryUrl(), e.getMessage());
      }
      ownsRegistry = true;
    }
  }

  @Override
  public T deserialize(String topic, byte[] data) {
    if (data == null) {
      return null;
    }
    if (registry == null) {
      throw new IllegalStateException(
          "AvroDeserializer not configured: set " + AvroSerdeConfig.SCHEMA_REGISTRY_URL);
    }
    int id = WireFormat.schemaId(data);
    Reading<T> reading = readers.get(id);
    if (reading == null) {
      reading = readingFor(topic, id);
      readers.putIfAbsent(id, reading);
    }
    return decode(topic, id, data, reading);
  }

  private T decode(String topic, int id, byte[] data, Reading<T> reading) {
    int bodyLength = data.length - WireFormat.HEADER_SIZE;
    String what = "schema id " + id + " (" + writerName(id) + ") on topic " + topic;
    try { // before Avro sizes any array, map, string or bytes from a count in the bytes
      reading.bounds().check(data, WireFormat.HEADER_SIZE, bodyLength);
    } catch (AvroBounds.OutOfBounds e) {
      throw new AvroDecodeException(
          Reason.BAD_PAYLOAD,
          e.truncated()
              ? "Avro body truncated: the "
                  + bodyLength
                  + " bytes after the 5-byte header end before a whole record of "
                  + what
                  + " ("
                  + e.getMessage()
                  + ")"
              : e.getMessage() + ", in the Avro body of " + bodyLength + " bytes of " + what,
          null);
    }
    BinaryDecoder decoder =
        DecoderFactory.get().binaryDecoder(data, WireFormat.HEADER_SIZE, bodyLength, null);
    DatumReader<T> reader = reading.reader();
    T record;
    try {
      record = reader.read(null, decoder);
    } catch (EOFException e) {
      throw new AvroDecodeException(
          Reason.BAD_PAYLOAD,
          "Avro body truncated: the "
              + bodyLength
              + " bytes after the 5-byte header end before a whole record of "
              + what,
          e);
    } catch (IOException | RuntimeException e) {
      throw new AvroDecodeException(
          Reason.BAD_PAYLOAD,
          "Avro body of " + bodyLength + " bytes is not a valid " + what + ": " + e,
          e);
    }
    try {
      if (!decoder.isEnd()) {
        int left = decoder.inputStream().available();
        throw new AvroDecodeException(
            Reason.BAD_PAYLOAD,
            left
                + " trailing bytes after a whole record of "
                + what
                + " (record of "
                + data.length
                + " bytes)",
            null);
      }
    } catch (IOException e) {
      throw new AvroDecodeException(
          Reason.BAD_PAYLOAD, "cannot check the end of the Avro body of " + what, e);
    }
    return record;
  }

  private Reading<T> readingFor(String topic, int id) {
    Schema writer = writerSchema(topic, id);
    return new Reading<>(AvroBounds.of(writer), readerFor(topic, id, writer));
  }

  private DatumReader<T> readerFor(String topic, int id, Schema writer) {
    if (type == null && !specificByWriterName) {
      return new GenericDatumReader<>(writer);
    }
    Class<?> target = type != null ? type : SpecificData.get().getClass(writer);
    if (target == null) {
      throw new AvroDecodeException(
          Reason.INCOMPATIBLE_SCHEMA,
          "no generated class "
              + writer.getFullName()
              + " on the classpath for schema id "
              + id
              + " on topic "
              + topic
              + " (specific.avro.reader=true reads into the class named by the writer schema)",
          null);
    }
    SpecificData data = SpecificData.getForClass(target);
    Schema reader = data.getSchema(target);
    var compatibility = SchemaCompatibility.checkReaderWriterCompatibility(reader, writer);
    if (compatibility.getType() != SchemaCompatibility.SchemaCompatibilityType.COMPATIBLE) {
      throw new AvroDecodeException(
          Reason.INCOMPATIBLE_SCHEMA,
          "schema id "
              + id
              + " ("
              + writer.getFullName()
              + ") on topic "
              + topic
              + " cannot be read as "
              + reader.getFullName()
              + ": "
              + compatibility.getResult().getIncompatibilities().stream()
                  .map(i -> i.getType() + " at " + i.getLocation() + ": " + i.getMessage())
                  .toList(),
          null);
    }
    return new SpecificDatumReader<>(writer, reader, data);
  }

  private Schema writerSchema(String topic, int id) {
    try {
      return registry.getById(id);
    } catch (SchemaRegistryException e) {
      if (e.isNotFound()) {
        throw new AvroDecodeException(
            Reason.UNKNOWN_SCHEMA_ID,
            "schema id "
                + id
                + " (bytes 1..4 of the record) on"
                + " topic "
                + topic
                + " is not in the schema registry: "
                + e.getMessage(),
            e);
      }
      throw new AvroDecodeException(
          Reason.REGISTRY_UNAVAILABLE,
          "cannot fetch schema id " + id + " for topic " + topic + ": " + e.getMessage(),
          e);
    }
  }

  private String writerName(int id) {
    try {
      return registry.getById(id).getFullName(); // cached by every client
    } catch (RuntimeException e) {
      return "?";
    }
  }

  @Override
  public void close() {
    if (ownsRegistry && registry != null) {
      registry.close();
    }
  }
}
