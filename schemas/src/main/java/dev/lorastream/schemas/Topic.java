package dev.lorastream.schemas;

import dev.lorastream.schemas.serde.AvroSerde;
import java.util.Map;
import java.util.Objects;
import org.apache.avro.generic.IndexedRecord;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;

/**
 * A Kafka topic with the Java types of its keys and values, declared once in {@link Topics}.
 *
 * <p>Key and value types are {@code String}, {@code byte[]} or an Avro record class (generated
 * {@code SpecificRecord}); {@link #keySerde} and {@link #valueSerde} pick the matching serde, Avro
 * ones speaking the Confluent Schema Registry wire format. Immutable and thread-safe.
 *
 * @param name the topic name
 * @param keyType the class of record keys
 * @param valueType the class of record values
 * @param compacted whether the topic is log-compacted (latest value per key; a null value is a
 *     tombstone)
 */
public record Topic<K, V>(String name, Class<K> keyType, Class<V> valueType, boolean compacted) {

  public Topic {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(keyType, "keyType");
    Objects.requireNonNull(valueType, "valueType");
    if (name.isBlank()) {
      throw new IllegalArgumentException("topic name is blank");
    }
  }

  /** The same types under another name, e.g. a per-tenant reply topic. */
  public Topic<K, V> withName(String otherName) {
    return new Topic<>(otherName, keyType, valueType, compacted);
  }

  /** Schema-registry subject of the values under TopicNameStrategy: {@code <topic>-value}. */
  public String valueSubject() {
    return name + "-value";
  }

  /** Schema-registry subject of the keys under TopicNameStrategy: {@code <topic>-key}. */
  public String keySubject() {
    return name + "-key";
  }

  /**
   * Topic-level configs to create the topic with ({@code cleanup.policy=compact} when compacted).
   */
  public Map<String, String> topicConfigs() {
    return compacted ? Map.of("cleanup.policy", "compact") : Map.of();
  }

  /**
   * A configured serde for the keys.
   *
   * @param serdeConfig the serde config (see {@link dev.lorastream.schemas.serde.AvroSerdeConfig});
   *     only read when the key type is an Avro record
   */
  public Serde<K> keySerde(Map<String, ?> serdeConfig) {
    return serdeFor(keyType, serdeConfig, true);
  }

  /**
   * A configured serde for the values.
   *
   * @param serdeConfig the serde config (see {@link dev.lorastream.schemas.serde.AvroSerdeConfig}),
   *     at least {@code schema.registry.url} when the value type is an Avro record
   */
  public Serde<V> valueSerde(Map<String, ?> serdeConfig) {
    return serdeFor(valueType, serdeConfig, false);
  }

  @SuppressWarnings({"unchecked", "rawtypes"})
  private static <T> Serde<T> serdeFor(Class<T> type, Map<String, ?> config, boolean isKey) {
    if (IndexedRecord.class.isAssignableFrom(type)) {
      Serde serde = new AvroSerde(type);
      serde.configure(config, isKey);
      return serde;
    }
    return Serdes.serdeFrom(type); // String, byte[], primitives: no config needed
  }
}
