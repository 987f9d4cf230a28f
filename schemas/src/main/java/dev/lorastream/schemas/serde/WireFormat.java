package dev.lorastream.schemas.serde;

import java.nio.ByteBuffer;
import java.util.HexFormat;

/**
 * The Confluent Schema Registry framing: byte 0 is the magic byte {@code 0x00}, bytes 1..4 the
 * schema id as a big-endian int32, then the Avro binary encoding of the record with that schema.
 */
public final class WireFormat {

  /** The magic byte of the Confluent framing. */
  public static final byte MAGIC_BYTE = 0;

  /** Magic byte plus schema id. */
  public static final int HEADER_SIZE = 5;

  private WireFormat() {}

  /** The 5-byte header for a schema id. */
  public static byte[] header(int schemaId) {
    return ByteBuffer.allocate(HEADER_SIZE).put(MAGIC_BYTE).putInt(schemaId).array();
  }

  /**
   * The schema id of a framed record.
   *
   * @throws AvroDecodeException TOO_SHORT or BAD_MAGIC, naming the first bytes
   */
  public static int schemaId(byte[] data) {
    if (data.length < HEADER_SIZE) {
      throw new AvroDecodeException(
          AvroDecodeException.Reason.TOO_SHORT,
          "record of "
              + data.length
              + " bytes is shorter than the 5-byte Confluent header (magic byte 0x00 + 4-byte schema id); bytes: "
              + preview(data),
          null);
    }
    if (data[0] != MAGIC_BYTE) {
      throw new AvroDecodeException(
          AvroDecodeException.Reason.BAD_MAGIC,
          String.format(
              "unknown magic byte 0x%02x (expected 0x00, Confluent Schema Registry framing)%s; record of %d bytes"
                  + " starts: %s",
              data[0] & 0xff,
              data[0] == '{' ? ", looks like JSON text" : "",
              data.length,
              preview(data)),
          null);
    }
    return ByteBuffer.wrap(data, 1, 4).getInt();
  }

  /** The first 16 bytes in hex, for error messages. */
  static String preview(byte[] data) {
    int n = Math.min(data.length, 16);
    String hex = HexFormat.ofDelimiter(" ").formatHex(data, 0, n);
    return n < data.length ? hex + " ..." : hex;
  }
}
