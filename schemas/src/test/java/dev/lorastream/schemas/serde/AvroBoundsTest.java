package dev.lorastream.schemas.serde;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.schemas.Fixtures;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.Arrays;
import java.util.List;
import org.apache.avro.Schema;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.specific.SpecificDatumWriter;
import org.apache.avro.specific.SpecificRecord;
import org.junit.jupiter.api.Test;

/** The bounds walk over Avro bodies: whole records pass, impossible counts and lengths do not. */
class AvroBoundsTest {

  private static byte[] encode(SpecificRecord record) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    BinaryEncoder encoder = EncoderFactory.get().binaryEncoder(out, null);
    new SpecificDatumWriter<SpecificRecord>(record.getSchema()).write(record, encoder);
    encoder.flush();
    return out.toByteArray();
  }

  private static String refusal(Schema schema, byte... body) {
    return assertThrows(
            AvroBounds.OutOfBounds.class, () -> AvroBounds.of(schema).check(body, 0, body.length))
        .getMessage();
  }

  @Test
  void everyRecordOfTheProjectWalksToItsWholeLength() throws IOException {
    for (SpecificRecord record :
        List.<SpecificRecord>of(
            Fixtures.request("r-1", "poet"),
            Fixtures.minimalRequest(),
            Fixtures.batch(),
            Fixtures.result(),
            Fixtures.errorResult(),
            Fixtures.adapter())) {
      byte[] body = encode(record);
      byte[] padded = Arrays.copyOf(body, body.length + 3); // trailing bytes are not its concern
      assertEquals(
          body.length,
          AvroBounds.of(record.getSchema()).check(padded, 0, padded.length),
          record.getSchema().getName());
    }
  }

  @Test
  void itemsThatEncodeToNothingCountOneByteEach() {
    Schema nulls = new Schema.Parser().parse("{\"type\":\"array\",\"items\":\"null\"}");
    assertEquals(2, AvroBounds.of(nulls).check(new byte[] {2, 0}, 0, 2), "one null, then the end");
    assertEquals(
        "array block count 3 exceeds what the 1 bytes left can hold (each item takes at least 1"
            + " byte)",
        refusal(nulls, (byte) 6, (byte) 0));
  }

  @Test
  void unionBranchAndEnumIndexOutOfRangeAreRefused() {
    Schema schema =
        new Schema.Parser()
            .parse(
                "{\"type\":\"record\",\"name\":\"R\",\"fields\":["
                    + "{\"name\":\"u\",\"type\":[\"null\",\"int\"]},"
                    + "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\","
                    + "\"symbols\":[\"A\",\"B\"]}}]}");
    assertEquals(
        "field u: union branch 2 is not one of the 2 branches [null, int]",
        refusal(schema, (byte) 4, (byte) 0));
    assertEquals(
        "field e: enum index 2 is not one of the 2 symbols of E",
        refusal(schema, (byte) 0, (byte) 4));
  }

  @Test
  void aVarintLongerThanTenBytesIsRefused() {
    Schema longs = Schema.create(Schema.Type.LONG);
    byte[] body = new byte[11];
    Arrays.fill(body, (byte) 0x80);
    assertEquals("varint longer than 10 bytes (1 bytes left)", refusal(longs, body));
  }

  @Test
  void nestingOfARecursiveSchemaIsBounded() {
    Schema node =
        new Schema.Parser()
            .parse(
                "{\"type\":\"record\",\"name\":\"Node\",\"fields\":["
                    + "{\"name\":\"next\",\"type\":[\"null\",\"Node\"]}]}");
    byte[] shallow = {2, 2, 0}; // two nodes deep, then null
    assertEquals(3, AvroBounds.of(node).check(shallow, 0, 3));
    byte[] deep = new byte[1001];
    Arrays.fill(
        deep, 0, 1000, (byte) 2); // 1000 nodes deep: a stack overflow for a recursive reader
    String message = refusal(node, deep);
    assertTrue(message.startsWith("field next.next.next."), message);
    assertTrue(message.contains(": nested deeper than 256 levels, "), message);
    assertFalse(message.contains("StackOverflow"), message);
  }
}
