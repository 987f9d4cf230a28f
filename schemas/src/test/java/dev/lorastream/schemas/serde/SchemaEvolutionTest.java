package dev.lorastream.schemas.serde;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.lorastream.schemas.ErrorCode;
import dev.lorastream.schemas.FinishReason;
import dev.lorastream.schemas.Fixtures;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.registry.CompatibilityLevel;
import dev.lorastream.schemas.registry.CompatibilityResult;
import dev.lorastream.schemas.registry.MockSchemaRegistry;
import dev.lorastream.schemas.registry.SchemaRegistryException;
import java.util.List;
import java.util.function.Consumer;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.generic.GenericRecordBuilder;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class SchemaEvolutionTest {

  private static final String SCOPE = "evolution";
  private static final ObjectMapper JSON = new ObjectMapper();
  private final MockSchemaRegistry registry = MockSchemaRegistry.forScope(SCOPE);

  @AfterEach
  void dropScope() {
    MockSchemaRegistry.dropScope(SCOPE);
  }

  /** The schema of a generated class, edited as JSON. */
  private static Schema edit(Schema schema, Consumer<ObjectNode> change) throws Exception {
    ObjectNode json = (ObjectNode) JSON.readTree(schema.toString());
    change.accept(json);
    return new Schema.Parser().parse(json.toString());
  }

  private static void removeField(ObjectNode record, String name) {
    ArrayNode fields = (ArrayNode) record.get("fields");
    for (int i = 0; i < fields.size(); i++) {
      if (fields.get(i).get("name").asText().equals(name)) {
        fields.remove(i);
        return;
      }
    }
    throw new AssertionError("no field " + name);
  }

  private static ObjectNode field(ObjectNode record, String name) {
    for (var f : record.get("fields")) {
      if (f.get("name").asText().equals(name)) {
        return (ObjectNode) f;
      }
    }
    throw new AssertionError("no field " + name);
  }

  @Test
  void oldWriterWithoutPriorityReadsWithTheDefault() throws Exception {
    Schema v1 = edit(InferenceRequest.getClassSchema(), r -> removeField(r, "priority"));
    InferenceRequest current = Fixtures.request("r-old", "poet");
    GenericRecord old =
        new GenericRecordBuilder(v1)
            .set("requestId", "r-old")
            .set("tenantId", "acme")
            .set("adapterId", "poet")
            .set("promptTokenIds", List.of(1, 2, 3))
            .set(
                "sampling",
                GenericData.get().deepCopy(v1.getField("sampling").schema(), current.getSampling()))
            .set("createdEpochMs", 7L)
            .build();
    byte[] bytes;
    try (AvroSerializer<GenericRecord> serializer = new AvroSerializer<>(registry)) {
      bytes = serializer.serialize("lora.requests", old);
    }
    try (AvroDeserializer<InferenceRequest> deserializer =
        new AvroDeserializer<>(registry, InferenceRequest.class)) {
      InferenceRequest read = deserializer.deserialize("lora.requests", bytes);
      assertEquals(0, read.getPriority());
      assertEquals("r-old", read.getRequestId());
      assertEquals(List.of(1, 2, 3), read.getPromptTokenIds());
      assertEquals("lora.replies", read.getReplyTopic());
      assertEquals(0.7f, read.getSampling().getTemperature());
    }
    // The current schema is a BACKWARD-compatible successor of v1.
    assertTrue(
        registry
            .testCompatibility("lora.requests-value", InferenceRequest.getClassSchema())
            .compatible());
  }

  @Test
  void newerWriterFieldsAreSkippedAndUnknownErrorCodeReadsAsInternal() throws Exception {
    Schema v3 =
        edit(
            InferenceResult.getClassSchema(),
            r -> {
              ArrayNode fields = (ArrayNode) r.get("fields");
              fields
                  .addObject()
                  .put("name", "cachedTokens")
                  .put("type", "int")
                  .put("default", 0)
                  .put("doc", "new in v3");
              ArrayNode errorUnion = (ArrayNode) field(r, "errorCode").get("type");
              ((ArrayNode) errorUnion.get(1).get("symbols")).add("RATE_LIMITED");
            });
    GenericRecord newer =
        new GenericRecordBuilder(v3)
            .set("requestId", "r-new")
            .set("tenantId", "acme")
            .set(
                "finishReason",
                new GenericData.EnumSymbol(v3.getField("finishReason").schema(), "ERROR"))
            .set(
                "errorCode",
                new GenericData.EnumSymbol(
                    v3.getField("errorCode").schema().getTypes().get(1), "RATE_LIMITED"))
            .set("errorMessage", "tenant acme is over 100 requests/s")
            .set("cachedTokens", 99)
            .build();
    byte[] bytes;
    try (AvroSerializer<GenericRecord> serializer = new AvroSerializer<>(registry)) {
      bytes = serializer.serialize("lora.replies", newer);
    }
    try (AvroDeserializer<InferenceResult> deserializer =
        new AvroDeserializer<>(registry, InferenceResult.class)) {
      InferenceResult read = deserializer.deserialize("lora.replies", bytes);
      assertEquals(FinishReason.ERROR, read.getFinishReason());
      assertEquals(ErrorCode.INTERNAL, read.getErrorCode());
      assertEquals("tenant acme is over 100 requests/s", read.getErrorMessage());
    }
    // Appending an enum symbol is FULL-compatible thanks to the enum default.
    assertEquals(
        List.of(), CompatibilityLevel.FULL.check(List.of(InferenceResult.getClassSchema()), v3));
  }

  @Test
  void fieldWithoutDefaultIsRefused() throws Exception {
    String subject = "lora.requests-value";
    registry.register(subject, InferenceRequest.getClassSchema());
    Schema bad =
        edit(
            InferenceRequest.getClassSchema(),
            r ->
                ((ArrayNode) r.get("fields"))
                    .addObject()
                    .put("name", "region")
                    .put("type", "string"));

    CompatibilityResult check = registry.testCompatibility(subject, bad);
    assertFalse(check.compatible());
    assertEquals(
        List.of(
            "new schema reading old data: READER_FIELD_MISSING_DEFAULT_VALUE at /fields/12: region"),
        check.messages());
    SchemaRegistryException e =
        assertThrows(SchemaRegistryException.class, () -> registry.register(subject, bad));
    assertTrue(e.isIncompatible());
    assertEquals(409, e.errorCode());
    assertTrue(e.getMessage().contains("READER_FIELD_MISSING_DEFAULT_VALUE"), e.getMessage());

    Schema retyped =
        edit(
            InferenceRequest.getClassSchema(),
            r -> field(r, "priority").put("type", "string").put("default", "0"));
    assertFalse(registry.testCompatibility(subject, retyped).compatible());

    registry.setCompatibility(subject, CompatibilityLevel.NONE);
    int id = registry.register(subject, bad);
    assertEquals(id, registry.getLatest(subject).id());
    assertEquals(2, registry.getLatest(subject).version());
  }

  @Test
  void sameSchemaSameIdAcrossSubjectsAndTransitiveChecksEveryVersion() throws Exception {
    int a = registry.register("a-value", InferenceRequest.getClassSchema());
    assertEquals(a, registry.register("b-value", InferenceRequest.getClassSchema()));
    assertEquals(a, registry.register("a-value", InferenceRequest.getClassSchema()));
    assertEquals(1, registry.getLatest("a-value").version());

    // v1 has x:string; v2 drops it; v3 brings x back as int with a default: fine against v2, not
    // against v1.
    Schema v1 =
        new Schema.Parser()
            .parse(
                "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"x\",\"type\":\"string\"}]}");
    Schema v2 = new Schema.Parser().parse("{\"type\":\"record\",\"name\":\"R\",\"fields\":[]}");
    Schema v3 =
        new Schema.Parser()
            .parse(
                "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"x\",\"type\":\"int\",\"default\":0}]}");
    registry.setCompatibility("r-value", CompatibilityLevel.BACKWARD_TRANSITIVE);
    registry.register("r-value", v1);
    registry.register("r-value", v2);
    assertFalse(registry.testCompatibility("r-value", v3).compatible());
    registry.setCompatibility("r-value", CompatibilityLevel.BACKWARD);
    assertTrue(registry.testCompatibility("r-value", v3).compatible());
  }
}
