package dev.lorastream.schemas.serde;

import java.util.Map;
import org.apache.kafka.common.config.AbstractConfig;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigDef.Importance;
import org.apache.kafka.common.config.ConfigDef.Type;

/**
 * Config keys of {@link AvroSerializer}, {@link AvroDeserializer} and {@link AvroSerde}. The names
 * are Confluent's, so {@code io.confluent.kafka.serializers.KafkaAvroSerializer} / {@code
 * KafkaAvroDeserializer} are drop-in replacements where they are available (the bytes on the wire
 * are the same). Keys not listed here are ignored, so a whole producer or consumer config may be
 * passed.
 */
public final class AvroSerdeConfig extends AbstractConfig {

  /**
   * Registry url: {@code http(s)://host:port[/path]} (comma-separated for several) or {@code
   * mock://scope}. Required.
   */
  public static final String SCHEMA_REGISTRY_URL = "schema.registry.url";

  /**
   * Serializer: register the record's schema under the subject on first use (true, the default), or
   * only look up its id (false; serializing fails if the schema was not registered beforehand).
   */
  public static final String AUTO_REGISTER_SCHEMAS = "auto.register.schemas";

  /**
   * Deserializer without an explicit type: read into the generated class named by the writer schema
   * (true), or into a {@code GenericRecord} with the writer schema (false, the default, as
   * Confluent's).
   */
  public static final String SPECIFIC_AVRO_READER = "specific.avro.reader";

  /** Deserializer: the generated class to read values into (reader schema for evolution). */
  public static final String SPECIFIC_AVRO_VALUE_TYPE = "specific.avro.value.type";

  /** Deserializer: the generated class to read keys into (reader schema for evolution). */
  public static final String SPECIFIC_AVRO_KEY_TYPE = "specific.avro.key.type";

  static final ConfigDef DEFINITION =
      new ConfigDef()
          .define(
              SCHEMA_REGISTRY_URL,
              Type.STRING,
              ConfigDef.NO_DEFAULT_VALUE,
              Importance.HIGH,
              "Schema registry url: http(s)://host:port (comma-separated for several) or mock://scope (in-process).")
          .define(
              AUTO_REGISTER_SCHEMAS,
              Type.BOOLEAN,
              true,
              Importance.MEDIUM,
              "Register the record's schema on first use; when false, only look its id up.")
          .define(
              SPECIFIC_AVRO_READER,
              Type.BOOLEAN,
              false,
              Importance.LOW,
              "Read into the generated class named by the writer schema instead of a GenericRecord.")
          .define(
              SPECIFIC_AVRO_VALUE_TYPE,
              Type.CLASS,
              null,
              Importance.LOW,
              "Generated class to read values into; its schema is the reader schema.")
          .define(
              SPECIFIC_AVRO_KEY_TYPE,
              Type.CLASS,
              null,
              Importance.LOW,
              "Generated class to read keys into; its schema is the reader schema.");

  public AvroSerdeConfig(Map<String, ?> props) {
    super(DEFINITION, props, false);
  }

  public String schemaRegistryUrl() {
    return getString(SCHEMA_REGISTRY_URL);
  }

  public boolean autoRegisterSchemas() {
    return getBoolean(AUTO_REGISTER_SCHEMAS);
  }

  public boolean specificAvroReader() {
    return getBoolean(SPECIFIC_AVRO_READER);
  }

  /** The configured reader class for keys or values, or null. */
  public Class<?> specificType(boolean isKey) {
    return getClass(isKey ? SPECIFIC_AVRO_KEY_TYPE : SPECIFIC_AVRO_VALUE_TYPE);
  }

  /** TopicNameStrategy: {@code <topic>-key} or {@code <topic>-value}. */
  public static String subjectName(String topic, boolean isKey) {
    return topic + (isKey ? "-key" : "-value");
  }
}
