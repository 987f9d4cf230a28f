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
import java.lang.management.ManagementFactory;
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
    // the last string (the traceparent value, 55 bytes; after it the map's end and the stream
    // boolean) now claims more than is left
    AvroDecodeException e = fails(Arrays.copyOf(good, good.length - 4));
    assertEquals(Reason.BAD_PAYLOAD, e.reason());
    assertEquals(
        "BAD_PAYLOAD: field traceContext[0]: string length 55 exceeds the 53 bytes left, in the"
            + " Avro body of "
            + (good.length - 9)
            + " bytes of schema id 1 (dev.lorastream.schemas.InferenceRequest) on topic"
            + " lora.requests",
        e.getMessage());
    AvroDecodeException empty = fails(Arrays.copyOf(good, 5));
    assertEquals(
        "BAD_PAYLOAD: Avro body truncated: the 0 bytes after the 5-byte header end before a whole"
            + " record of schema id 1 (dev.lorastream.schemas.InferenceRequest) on topic"
            + " lora.requests (field requestId: the body ends inside a varint)",
        empty.getMessage());
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
    assertEquals(
        "BAD_PAYLOAD: field requestId: string length -1 is negative, in the Avro body of 2 bytes"
            + " of schema id 1 (dev.lorastream.schemas.InferenceRequest) on topic lora.requests",
        e.getMessage());
  }

  /**
   * The probe of issue 14: a 30-byte InferenceRequest whose promptTokenIds block claims 10^9 ints
   * (the varint 80 a8 d6 b9 07), followed by 7 bytes. Avro would size an int[10^9] (4 GB) from the
   * count before reading an item.
   */
  static final byte[] BILLION_TOKEN_PROBE = {
    0,
    0,
    0,
    0,
    1, // Confluent header, schema id 1
    10,
    'r',
    '-',
    'o',
    'o',
    'm', // requestId "r-oom"
    8,
    'a',
    'c',
    'm',
    'e', // tenantId "acme"
    0, // adapterId: union branch 0 (null)
    0, // prompt: union branch 0 (null)
    (byte) 0x80,
    (byte) 0xa8,
    (byte) 0xd6,
    (byte) 0xb9,
    0x07, // block count 1_000_000_000
    2,
    2,
    2,
    2,
    2,
    2,
    2 // seven ints (1) where a billion were claimed
  };

  @Test
  void arrayCountBeyondTheBytesLeftIsRefusedBeforeAllocating() {
    registry.register("lora.requests-value", InferenceRequest.getClassSchema());
    assertEquals(30, BILLION_TOKEN_PROBE.length);
    AvroDecodeException e = fails(BILLION_TOKEN_PROBE);
    assertEquals(Reason.BAD_PAYLOAD, e.reason());
    assertEquals(
        "BAD_PAYLOAD: field promptTokenIds: array block count 1000000000 exceeds what the 7 bytes"
            + " left can hold (each item takes at least 1 byte), in the Avro body of 25 bytes of"
            + " schema id 1 (dev.lorastream.schemas.InferenceRequest) on topic lora.requests",
        e.getMessage());
    assertTrue(e.isPermanent());
  }

  @Test
  void theProbeIsRefusedWithoutAllocatingForTheClaimedCount() {
    registry.register("lora.requests-value", InferenceRequest.getClassSchema());
    fails(BILLION_TOKEN_PROBE); // fetches the writer schema and builds the reader once
    var threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
    long before = threads.getCurrentThreadAllocatedBytes();
    fails(BILLION_TOKEN_PROBE);
    long allocated = threads.getCurrentThreadAllocatedBytes() - before;
    assertTrue(
        allocated < 1 << 20,
        "decoding 30 bytes allocated " + allocated + " bytes (an int[10^9] is 4 GB)");
  }

  @Test
  void negativeBlockCountWithABlockSizeBeyondTheBytesLeftIsRefused() {
    registry.register("lora.requests-value", InferenceRequest.getClassSchema());
    byte[] bytes = BILLION_TOKEN_PROBE.clone();
    // -10^9 (ff a7 d6 b9 07): a sized block; its byte size is the next varint, 2 (= 1 byte)
    bytes[18] = (byte) 0xff;
    bytes[19] = (byte) 0xa7;
    bytes[23] = 2;
    AvroDecodeException e = fails(bytes);
    assertEquals(
        "BAD_PAYLOAD: field promptTokenIds: array block count 1000000000 exceeds what the 6 bytes"
            + " left can hold (each item takes at least 1 byte), in the Avro body of 25 bytes of"
            + " schema id 1 (dev.lorastream.schemas.InferenceRequest) on topic lora.requests",
        e.getMessage());
  }

  @Test
  void stringLengthBeyondTheBytesLeftIsRefusedBeforeAllocating() {
    registry.register("lora.requests-value", InferenceRequest.getClassSchema());
    // requestId claims 2^31 - 9 bytes (ee ff ff ff 0f), the most a Java array holds
    byte[] bytes = {0, 0, 0, 0, 1, (byte) 0xee, (byte) 0xff, (byte) 0xff, (byte) 0xff, 0x0f, 'r'};
    AvroDecodeException e = fails(bytes);
    assertEquals(
        "BAD_PAYLOAD: field requestId: string length 2147483639 exceeds the 1 bytes left, in the"
            + " Avro body of 6 bytes of schema id 1 (dev.lorastream.schemas.InferenceRequest) on"
            + " topic lora.requests",
        e.getMessage());
  }

  @Test
  void mapCountBeyondTheBytesLeftIsRefused() {
    byte[] good = goodBytes();
    // traceContext is the last field but the stream boolean: one entry, "traceparent" -> a
    // 55-character value, then 0
    int entry = good.length - 2 - (1 + 55) - (1 + "traceparent".length());
    assertEquals(2, good[entry - 1], "the block count 1 before the entry");
    byte[] bytes = good.clone();
    bytes[entry - 1] = 0x7e; // 63 entries
    AvroDecodeException e = fails(bytes);
    int left = good.length - entry;
    assertEquals(
        "BAD_PAYLOAD: field traceContext: map block count 63 exceeds what the "
            + left
            + " bytes left can hold (each item takes at least 2 bytes), in the Avro body of "
            + (good.length - 5)
            + " bytes of schema id 1 (dev.lorastream.schemas.InferenceRequest) on topic"
            + " lora.requests",
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
