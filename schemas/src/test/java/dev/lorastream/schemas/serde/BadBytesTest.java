package dev.lorastream.schemas.serde;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.schemas.Fixtures;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.registry.MockSchemaRegistry;
import dev.lorastream.schemas.registry.RestSchemaRegistryClient;
import dev.lorastream.schemas.serde.AvroDecodeException.Reason;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import org.apache.kafka.common.errors.SerializationException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class BadBytesTest {

  private static final String SCOPE = "bad-bytes";
  private final MockSchemaRegistry registry = MockSchemaRegistry.forScope(SCOPE);
  private final AvroDeserializer<InferenceRequest> requests =
      new AvroDeserializer<>(registry, InferenceRequest.class);

  @AfterEach
  void dropScope() {
    MockSchemaRegistry.dropScope(SCOPE);
  }

  private AvroDecodeException fails(byte[] bytes) {
    SerializationException e =
        assertThrows(
            SerializationException.class, () -> requests.deserialize("lora.requests", bytes));
    return assertInstanceOf(AvroDecodeException.class, e);
  }

  private byte[] goodBytes() {
    try (AvroSerializer<InferenceRequest> serializer = new AvroSerializer<>(registry)) {
      return serializer.serialize("lora.requests", Fixtures.request("r-1", "poet"));
    }
  }

  @Test
  void tooShort() {
    AvroDecodeException e = fails(new byte[] {0, 0, 1});
    assertEquals(Reason.TOO_SHORT, e.reason());
    assertEquals(
        "TOO_SHORT: record of 3 bytes is shorter than the 5-byte Confluent header (magic byte 0x00 +"
            + " 4-byte schema id); bytes: 00 00 01",
        e.getMessage());
    assertEquals(Reason.TOO_SHORT, fails(new byte[0]).reason());
  }

  @Test
  void wrongMagicByte() {
    AvroDecodeException e = fails(new byte[] {1, 0, 0, 0, 1, 2});
    assertEquals(
        "BAD_MAGIC: unknown magic byte 0x01 (expected 0x00, Confluent Schema Registry framing); record of"
            + " 6 bytes starts: 01 00 00 00 01 02",
        e.getMessage());
    AvroDecodeException json =
        fails("{\"requestId\":\"r-1\",\"tenantId\":\"acme\"}".getBytes(StandardCharsets.UTF_8));
    assertEquals(Reason.BAD_MAGIC, json.reason());
    assertTrue(
        json.getMessage()
            .startsWith(
                "BAD_MAGIC: unknown magic byte 0x7b (expected 0x00, Confluent Schema"
                    + " Registry framing), looks like JSON text; record of 37 bytes starts: 7b 22 72 65"),
        json.getMessage());
    assertTrue(json.isPermanent());
  }

  @Test
  void unknownSchemaId() {
    AvroDecodeException e = fails(new byte[] {0, 0, 0, 0x27, 0x0f, 2, 'x'});
    assertEquals(Reason.UNKNOWN_SCHEMA_ID, e.reason());
    assertEquals(
        "UNKNOWN_SCHEMA_ID: schema id 9999 (bytes 1..4 of the record) on topic lora.requests is not in the"
            + " schema registry: Schema 9999 not found in mock://bad-bytes (http 404, error_code 40403)",
        e.getMessage());
  }

  @Test
  void truncatedBody() {
    byte[] good = goodBytes();
    AvroDecodeException e = fails(Arrays.copyOf(good, good.length - 3));
    assertEquals(Reason.BAD_PAYLOAD, e.reason());
    assertEquals(
        "BAD_PAYLOAD: Avro body truncated: the "
            + (good.length - 8)
            + " bytes after the 5-byte header end"
            + " before a whole record of schema id 1 (dev.lorastream.schemas.InferenceRequest) on topic lora.requests",
        e.getMessage());
    assertEquals(Reason.BAD_PAYLOAD, fails(Arrays.copyOf(good, 5)).reason());
  }

  @Test
  void trailingBytes() {
    byte[] good = goodBytes();
    byte[] longer = Arrays.copyOf(good, good.length + 2);
    AvroDecodeException e = fails(longer);
    assertEquals(
        "BAD_PAYLOAD: 2 trailing bytes after a whole record of schema id 1"
            + " (dev.lorastream.schemas.InferenceRequest) on topic lora.requests (record of "
            + longer.length
            + " bytes)",
        e.getMessage());
  }

  @Test
  void malformedBody() {
    byte[] bytes = {0, 0, 0, 0, 1, 0x01, 'x'}; // zig-zag 0x01 = string length -1
    registry.register("lora.requests-value", InferenceRequest.getClassSchema());
    AvroDecodeException e = fails(bytes);
    assertEquals(Reason.BAD_PAYLOAD, e.reason());
    assertTrue(
        e.getMessage()
            .startsWith(
                "BAD_PAYLOAD: Avro body of 2 bytes is not a valid schema id 1"
                    + " (dev.lorastream.schemas.InferenceRequest) on topic lora.requests: "),
        e.getMessage());
  }

  @Test
  void otherRecordTypeIsIncompatible() {
    byte[] resultBytes;
    try (AvroSerializer<InferenceResult> serializer = new AvroSerializer<>(registry)) {
      resultBytes = serializer.serialize("lora.replies", Fixtures.result());
    }
    AvroDecodeException e = fails(resultBytes);
    assertEquals(Reason.INCOMPATIBLE_SCHEMA, e.reason());
    assertTrue(
        e.getMessage()
            .startsWith(
                "INCOMPATIBLE_SCHEMA: schema id 1 (dev.lorastream.schemas.InferenceResult)"
                    + " on topic lora.requests cannot be read as dev.lorastream.schemas.InferenceRequest: [NAME_MISMATCH"),
        e.getMessage());
  }

  @Test
  void unreachableRegistryIsTransient() throws Exception {
    int port;
    try (ServerSocket socket = new ServerSocket(0)) {
      port = socket.getLocalPort(); // closed again: nothing listens there
    }
    try (var client = new RestSchemaRegistryClient(List.of("http://127.0.0.1:" + port));
        var deserializer = new AvroDeserializer<>(client, InferenceRequest.class)) {
      AvroDecodeException e =
          assertThrows(
              AvroDecodeException.class,
              () -> deserializer.deserialize("lora.requests", new byte[] {0, 0, 0, 0, 1, 2}));
      assertEquals(Reason.REGISTRY_UNAVAILABLE, e.reason());
      assertFalse(e.isPermanent());
      assertTrue(
          e.getMessage()
              .startsWith(
                  "REGISTRY_UNAVAILABLE: cannot fetch schema id 1 for topic lora.requests:"
                      + " schema registry unreachable at http://127.0.0.1:"
                      + port),
          e.getMessage());
    }
  }
}
