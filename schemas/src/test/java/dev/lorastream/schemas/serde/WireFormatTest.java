package dev.lorastream.schemas.serde;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.lorastream.schemas.Fixtures;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.Usage;
import dev.lorastream.schemas.registry.MockSchemaRegistry;
import java.io.ByteArrayOutputStream;
import java.util.Arrays;
import org.apache.avro.Schema;
import org.apache.avro.SchemaBuilder;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.specific.SpecificDatumWriter;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class WireFormatTest {

  private static final String SCOPE = "wire-format";

  @AfterEach
  void dropScope() {
    MockSchemaRegistry.dropScope(SCOPE);
  }

  @Test
  void headerIsMagicZeroThenBigEndianId() {
    assertArrayEquals(new byte[] {0, 0x01, 0x02, 0x03, 0x04}, WireFormat.header(0x01020304));
    assertArrayEquals(
        new byte[] {0, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xfe}, WireFormat.header(-2));
    assertEquals(0x01020304, WireFormat.schemaId(new byte[] {0, 1, 2, 3, 4, 99}));
  }

  @Test
  void usageBytesExactly() {
    MockSchemaRegistry registry = MockSchemaRegistry.forScope(SCOPE);
    try (AvroSerializer<Usage> serializer = new AvroSerializer<>(registry)) {
      // promptTokens=1, completionTokens=-2: zig-zag varints 0x02 and 0x03.
      byte[] bytes =
          serializer.serialize(
              "t", Usage.newBuilder().setPromptTokens(1).setCompletionTokens(-2).build());
      assertArrayEquals(new byte[] {0, 0, 0, 0, 1, 0x02, 0x03}, bytes);
    }
  }

  @Test
  void idAboveOneByteIsBigEndianAndBodyIsPlainAvroBinary() throws Exception {
    MockSchemaRegistry registry = MockSchemaRegistry.forScope(SCOPE);
    for (int i = 1;
        i <= 257;
        i++) { // ids 1..257 go to filler schemas, so the request gets 258 = 0x0102
      Schema filler = SchemaBuilder.record("Filler" + i).fields().requiredInt("x").endRecord();
      assertEquals(i, registry.register("filler-value", filler));
      registry.setCompatibility(
          "filler-value", dev.lorastream.schemas.registry.CompatibilityLevel.NONE);
    }
    InferenceRequest request = Fixtures.request("r-1", "sql-expert");
    byte[] bytes;
    try (AvroSerializer<InferenceRequest> serializer = new AvroSerializer<>(registry)) {
      bytes = serializer.serialize("lora.requests", request);
    }
    assertArrayEquals(new byte[] {0, 0, 0, 0x01, 0x02}, Arrays.copyOf(bytes, 5));
    assertEquals(258, registry.getLatest("lora.requests-value").id());

    ByteArrayOutputStream body = new ByteArrayOutputStream();
    BinaryEncoder encoder = EncoderFactory.get().binaryEncoder(body, null);
    new SpecificDatumWriter<>(InferenceRequest.getClassSchema()).write(request, encoder);
    encoder.flush();
    assertArrayEquals(body.toByteArray(), Arrays.copyOfRange(bytes, 5, bytes.length));
    // Avro binary starts with the requestId string: zig-zag length 3 -> 0x06, then "r-1".
    assertArrayEquals(new byte[] {0x06, 'r', '-', '1'}, Arrays.copyOfRange(bytes, 5, 9));
  }
}
