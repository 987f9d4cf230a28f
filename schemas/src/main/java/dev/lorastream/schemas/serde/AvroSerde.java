package dev.lorastream.schemas.serde;

import dev.lorastream.schemas.registry.SchemaRegistryClient;
import java.util.Map;
import org.apache.avro.generic.IndexedRecord;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serializer;

/**
 * {@link AvroSerializer} and {@link AvroDeserializer} as one Kafka {@link Serde}, for Kafka Streams
 * ({@code Consumed.with}, {@code Produced.with}, {@code Materialized}). {@link #configure}
 * configures both. Usually obtained from {@link dev.lorastream.schemas.Topic#valueSerde}.
 * Thread-safe once configured.
 */
public class AvroSerde<T extends IndexedRecord> implements Serde<T> {

  private final AvroSerializer<T> serializer;
  private final AvroDeserializer<T> deserializer;

  /** Generic records unless {@code specific.avro.reader} or a type config says otherwise. */
  public AvroSerde() {
    this.serializer = new AvroSerializer<>();
    this.deserializer = new AvroDeserializer<>();
  }

  /** Reads into a generated class; {@link #configure} gives the registry url. */
  public AvroSerde(Class<? extends T> type) {
    this.serializer = new AvroSerializer<>();
    this.deserializer = new AvroDeserializer<>(type);
  }

  /**
   * With a registry client the caller owns; usable without {@link #configure} (values,
   * auto-register).
   */
  public AvroSerde(SchemaRegistryClient registry, Class<? extends T> type) {
    this.serializer = new AvroSerializer<>(registry);
    this.deserializer = new AvroDeserializer<>(registry, type);
  }

  @Override
  public void configure(Map<String, ?> configs, boolean isKey) {
    serializer.configure(configs, isKey);
    deserializer.configure(configs, isKey);
  }

  @Override
  public Serializer<T> serializer() {
    return serializer;
  }

  @Override
  public Deserializer<T> deserializer() {
    return deserializer;
  }

  @Override
  public void close() {
    serializer.close();
    deserializer.close();
  }
}
