package dev.lorastream.schemas.serde;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.lorastream.schemas.AdapterRecord;
import dev.lorastream.schemas.CancelRequest;
import dev.lorastream.schemas.ErrorCode;
import dev.lorastream.schemas.Fixtures;
import dev.lorastream.schemas.InferenceBatch;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.StreamChunk;
import dev.lorastream.schemas.Topic;
import dev.lorastream.schemas.Topics;
import dev.lorastream.schemas.registry.MockSchemaRegistry;
import java.util.List;
import java.util.Map;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.generic.IndexedRecord;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.common.utils.Utils;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class AvroSerdeRoundTripTest {

  private static final String SCOPE = "round-trip";
  private static final Map<String, Object> CONFIG =
      Map.of(AvroSerdeConfig.SCHEMA_REGISTRY_URL, "mock://" + SCOPE);

  @AfterEach
  void dropScope() {
    MockSchemaRegistry.dropScope(SCOPE);
  }

  private static <V extends SpecificRecord> void assertRoundTrip(Topic<String, V> topic, V value) {
    try (Serde<V> serde = topic.valueSerde(CONFIG)) {
      byte[] bytes = serde.serializer().serialize(topic.name(), value);
      assertEquals(WireFormat.MAGIC_BYTE, bytes[0]);
      V back = serde.deserializer().deserialize(topic.name(), bytes);
      assertEquals(value, back);
      assertInstanceOf(topic.valueType(), back);
    }
  }

  @Test
  void everyRecordRoundTrips() {
    assertRoundTrip(Topics.REQUESTS, Fixtures.request("r-1", "sql-expert"));
    assertRoundTrip(Topics.REQUESTS, Fixtures.request("r-2", null));
    assertRoundTrip(Topics.REQUESTS, Fixtures.minimalRequest());
    assertRoundTrip(Topics.BATCHES, Fixtures.batch());
    assertRoundTrip(Topics.REPLIES, Fixtures.result());
    assertRoundTrip(Topics.REPLIES, Fixtures.errorResult());
    assertRoundTrip(Topics.ADAPTERS, Fixtures.adapter());
    assertEquals(
        List.of(
            "lora.adapters-value",
            "lora.batches-value",
            "lora.replies-value",
            "lora.requests-value"),
        MockSchemaRegistry.forScope(SCOPE).subjects());
  }

  @Test
  void streamChunkAndCancelRoundTripUnderTheirSubjects() {
    StreamChunk chunk =
        StreamChunk.newBuilder()
            .setTenantId("acme")
            .setRequestId("r-1")
            .setAttempt(3L << 32 | 1_764_900_000L)
            .setIndex(7)
            .setText("h\u00e9llo \u4e16")
            .setTokenIds(List.of(104, 233, 19990))
            .setLast(true)
            .build();
    assertRoundTrip(Topics.STREAM, chunk);
    StreamChunk defaults =
        StreamChunk.newBuilder()
            .setTenantId("acme")
            .setRequestId("r-2")
            .setAttempt(1L)
            .setIndex(0)
            .build();
    assertEquals("", defaults.getText());
    assertEquals(List.of(), defaults.getTokenIds());
    assertEquals(false, defaults.getLast());
    assertRoundTrip(Topics.stream("lora.tenant.acme.stream"), defaults);
    CancelRequest cancel =
        CancelRequest.newBuilder()
            .setTenantId("acme")
            .setRequestId("r-1")
            .setCreatedEpochMs(1_700_000_000_000L)
            .build();
    assertRoundTrip(Topics.CANCEL, cancel);
    assertEquals(
        List.of("lora.cancel-value", "lora.stream-value", "lora.tenant.acme.stream-value"),
        MockSchemaRegistry.forScope(SCOPE).subjects());
  }

  @Test
  void defaultsOfAMinimalRequest() {
    InferenceRequest r = Fixtures.minimalRequest();
    assertNull(r.getAdapterId());
    assertEquals(List.of(), r.getPromptTokenIds());
    assertEquals("lora.replies", r.getReplyTopic());
    assertEquals(0f, r.getSampling().getTemperature());
    assertEquals(1f, r.getSampling().getTopP());
    assertEquals(16, r.getSampling().getMaxTokens());
    assertEquals(0L, r.getDeadlineEpochMs());
    assertEquals(Map.of(), r.getTraceContext());
    InferenceResult e = Fixtures.errorResult();
    assertEquals("", e.getText());
    assertEquals(ErrorCode.ADAPTER_FORBIDDEN, e.getErrorCode());
    assertEquals(0, e.getUsage().getCompletionTokens());
  }

  @Test
  void nullIsATombstoneBothWays() {
    try (Serde<AdapterRecord> serde = Topics.ADAPTERS.valueSerde(CONFIG)) {
      assertNull(serde.serializer().serialize(Topics.ADAPTERS.name(), null));
      assertNull(serde.deserializer().deserialize(Topics.ADAPTERS.name(), null));
    }
  }

  @Test
  @SuppressWarnings("unchecked")
  void configuredByClassNameAsKafkaDoes() throws Exception {
    // What a producer/consumer does with value.serializer / value.deserializer class names.
    Serializer<IndexedRecord> serializer =
        Utils.newInstance(AvroSerializer.class.getName(), Serializer.class);
    serializer.configure(CONFIG, false);
    byte[] bytes = serializer.serialize("lora.replies", Fixtures.result());

    Deserializer<Object> generic =
        Utils.newInstance(AvroDeserializer.class.getName(), Deserializer.class);
    generic.configure(CONFIG, false);
    GenericRecord asGeneric =
        assertInstanceOf(GenericRecord.class, generic.deserialize("lora.replies", bytes));
    assertEquals("r-1", asGeneric.get("requestId").toString());

    Deserializer<Object> byWriterName =
        Utils.newInstance(AvroDeserializer.class.getName(), Deserializer.class);
    byWriterName.configure(
        Map.of(
            AvroSerdeConfig.SCHEMA_REGISTRY_URL,
            "mock://" + SCOPE,
            AvroSerdeConfig.SPECIFIC_AVRO_READER,
            "true"),
        false);
    assertEquals(Fixtures.result(), byWriterName.deserialize("lora.replies", bytes));

    Deserializer<Object> byType =
        Utils.newInstance(AvroDeserializer.class.getName(), Deserializer.class);
    byType.configure(
        Map.of(
            AvroSerdeConfig.SCHEMA_REGISTRY_URL,
            "mock://" + SCOPE,
            AvroSerdeConfig.SPECIFIC_AVRO_VALUE_TYPE,
            InferenceResult.class.getName()),
        false);
    assertEquals(Fixtures.result(), byType.deserialize("lora.replies", bytes));
  }

  @Test
  void keysUseTheKeySubject() {
    try (AvroSerde<InferenceBatch> serde = new AvroSerde<>(InferenceBatch.class)) {
      serde.configure(CONFIG, true);
      byte[] bytes = serde.serializer().serialize("lora.batches", Fixtures.batch());
      assertEquals(Fixtures.batch(), serde.deserializer().deserialize("lora.batches", bytes));
    }
    assertEquals(List.of("lora.batches-key"), MockSchemaRegistry.forScope(SCOPE).subjects());
  }

  @Test
  void autoRegisterFalseNeedsARegisteredSchema() {
    Map<String, Object> noRegister =
        Map.of(
            AvroSerdeConfig.SCHEMA_REGISTRY_URL,
            "mock://" + SCOPE,
            AvroSerdeConfig.AUTO_REGISTER_SCHEMAS,
            false);
    try (AvroSerializer<AdapterRecord> serializer = new AvroSerializer<>()) {
      serializer.configure(noRegister, false);
      SerializationException e =
          assertThrows(
              SerializationException.class,
              () -> serializer.serialize("lora.adapters", Fixtures.adapter()));
      assertEquals(
          "schema dev.lorastream.schemas.AdapterRecord is not registered under subject lora.adapters-value"
              + " and auto.register.schemas=false",
          e.getMessage());
      int id =
          MockSchemaRegistry.forScope(SCOPE)
              .register("lora.adapters-value", AdapterRecord.getClassSchema());
      byte[] bytes = serializer.serialize("lora.adapters", Fixtures.adapter());
      assertEquals(id, WireFormat.schemaId(bytes));
    }
  }

  @Test
  void badUrlIsAConfigError() {
    try (AvroSerializer<AdapterRecord> serializer = new AvroSerializer<>()) {
      assertThrows(ConfigException.class, () -> serializer.configure(Map.of(), false));
      ConfigException e =
          assertThrows(
              ConfigException.class,
              () ->
                  serializer.configure(
                      Map.of(AvroSerdeConfig.SCHEMA_REGISTRY_URL, "ftp://registry"), false));
      assertEquals(
          "Invalid value ftp://registry for configuration schema.registry.url: "
              + "schema registry url must be http(s):// or mock://, got: ftp://registry",
          e.getMessage());
    }
  }
}
