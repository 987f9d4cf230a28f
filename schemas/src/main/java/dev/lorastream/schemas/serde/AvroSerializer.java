package dev.lorastream.schemas.serde;

import dev.lorastream.schemas.registry.SchemaRegistryClient;
import dev.lorastream.schemas.registry.SchemaRegistryException;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.IndexedRecord;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.DatumWriter;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.specific.SpecificData;
import org.apache.avro.specific.SpecificDatumWriter;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Serializer;

/**
 * Writes Avro records (generated {@code SpecificRecord}s, or {@code GenericRecord}s) in the
 * Confluent Schema Registry wire format ({@link WireFormat}), the schema registered under the
 * TopicNameStrategy subject {@code <topic>-value} (or {@code -key}). Configured by {@link
 * AvroSerdeConfig} keys; a drop-in for Confluent's {@code KafkaAvroSerializer}. A null record
 * serializes to null (a tombstone).
 *
 * <p>Thread-safe once configured. Schema ids are cached per subject, so the registry is called once
 * per schema and subject.
 */
public class AvroSerializer<T extends IndexedRecord> implements Serializer<T> {

  private SchemaRegistryClient registry;
  private boolean ownsRegistry;
  private boolean autoRegister = true;
  private boolean isKey;
  private final Map<String, Map<Schema, Integer>> idBySubject = new ConcurrentHashMap<>();
  private final Map<Schema, DatumWriter<Object>> writers = new ConcurrentHashMap<>();

  /** For instantiation by class name; {@link #configure} must follow. */
  public AvroSerializer() {}

  /**
   * With a registry client the caller owns (not closed by {@link #close}); {@link #configure} is
   * optional.
   */
  public AvroSerializer(SchemaRegistryClient registry) {
    this.registry = Objects.requireNonNull(registry, "registry");
  }

  @Override
  public void configure(Map<String, ?> configs, boolean isKey) {
    this.isKey = isKey;
    if (registry != null && !configs.containsKey(AvroSerdeConfig.SCHEMA_REGISTRY_URL)) {
      this.autoRegister =
          !Boolean.FALSE
              .toString()
              .equals(String.valueOf(configs.get(AvroSerdeConfig.AUTO_REGISTER_SCHEMAS)));
      return;
    }
    AvroSerdeConfig config = new AvroSerdeConfig(configs);
    this.autoRegister = config.autoRegisterSchemas();
    if (registry == null) {
      try {
        this.registry = SchemaRegistryClient.forUrl(config.schemaRegistryUrl());
      } catch (IllegalArgumentException e) {
        throw new ConfigException(
            AvroSerdeConfig.SCHEMA_REGISTRY_URL, config.schemaRegistryUrl(), e.getMessage());
      }
      this.ownsRegistry = true;
    }
  }

  @Override
  public byte[] serialize(String topic, T record) {
    if (record == null) {
      return null;
    }
    if (registry == null) {
      throw new IllegalStateException(
          "AvroSerializer not configured: set " + AvroSerdeConfig.SCHEMA_REGISTRY_URL);
    }
    Schema schema = record.getSchema();
    String subject = AvroSerdeConfig.subjectName(topic, isKey);
    int id =
        idBySubject
            .computeIfAbsent(subject, s -> new ConcurrentHashMap<>())
            .computeIfAbsent(schema, s -> schemaId(subject, s));
    ByteArrayOutputStream out = new ByteArrayOutputStream(256);
    out.writeBytes(WireFormat.header(id));
    try {
      BinaryEncoder encoder = EncoderFactory.get().directBinaryEncoder(out, null);
      writers.computeIfAbsent(schema, s -> writerFor(record, s)).write(record, encoder);
      encoder.flush();
    } catch (IOException | RuntimeException e) {
      throw new SerializationException(
          "cannot write " + schema.getFullName() + " for topic " + topic + ": " + e, e);
    }
    return out.toByteArray();
  }

  private int schemaId(String subject, Schema schema) {
    try {
      if (autoRegister) {
        return registry.register(subject, schema);
      }
      return registry
          .lookup(subject, schema)
          .orElseThrow(
              () ->
                  new SerializationException(
                      "schema "
                          + schema.getFullName()
                          + " is not registered under subject "
                          + subject
                          + " and "
                          + AvroSerdeConfig.AUTO_REGISTER_SCHEMAS
                          + "=false"))
          .id();
    } catch (SchemaRegistryException e) {
      throw new SerializationException(
          (autoRegister ? "cannot register " : "cannot look up ")
              + schema.getFullName()
              + " under subject "
              + subject
              + ": "
              + e.getMessage(),
          e);
    }
  }

  private static DatumWriter<Object> writerFor(IndexedRecord record, Schema schema) {
    if (record instanceof SpecificRecord) {
      return new SpecificDatumWriter<>(schema, SpecificData.getForSchema(schema));
    }
    return new GenericDatumWriter<>(schema);
  }

  @Override
  public void close() {
    if (ownsRegistry && registry != null) {
      registry.close();
    }
  }
}
