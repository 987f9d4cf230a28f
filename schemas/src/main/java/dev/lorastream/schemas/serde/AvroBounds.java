package dev.lorastream.schemas.serde;

import java.util.IdentityHashMap;
import java.util.Map;
import org.apache.avro.Schema;

/**
 * A walk over an Avro binary body with its writer schema that refuses, before anything is
 * allocated, every length or count the remaining bytes cannot hold: a string or bytes length above
 * the bytes left, an array or map block count above the bytes left divided by the smallest encoding
 * of one item, a block byte size above the bytes left. It also refuses malformed varints, negative
 * lengths, union branches and enum symbols out of range, and nesting deeper than {@link
 * #MAX_DEPTH}. It allocates nothing that grows with a claimed count, and its work is bounded by the
 * body's length.
 *
 * <p>Why: Avro's decoders size an array, map, string or bytes buffer from the count in the bytes
 * before reading the items, so a 30-byte record claiming 10^9 array items makes the reader allocate
 * gigabytes ({@code OutOfMemoryError}). Avro's own limits ({@code org.apache.avro.limits.*} system
 * properties) are absolute and JVM-wide, and their defaults are near {@code Integer.MAX_VALUE};
 * they do not compare a count with the bytes that are actually there.
 *
 * <p>Items whose encoding can be empty ({@code null}, a record without fields, a zero-size fixed)
 * are counted as one byte each: a block of such items may not claim more items than bytes left.
 *
 * <p>Immutable and thread-safe; build one per writer schema and reuse it.
 */
final class AvroBounds {

  /**
   * Deepest nesting of records, arrays, maps and unions accepted (only recursive schemas reach it).
   */
  static final int MAX_DEPTH = 256;

  private final Schema schema;
  private final Map<Schema, Integer> minSizes = new IdentityHashMap<>();

  private AvroBounds(Schema schema) {
    this.schema = schema;
    minSize(schema, new IdentityHashMap<>());
  }

  /** The checker for bodies written with {@code writer}. */
  static AvroBounds of(Schema writer) {
    return new AvroBounds(writer);
  }

  /**
   * Walks the body {@code data[offset, offset + length)}.
   *
   * @return the number of bytes one whole record takes (may be less than {@code length}: trailing
   *     bytes are the caller's concern)
   * @throws OutOfBounds naming the field, the claimed count or length and the bytes left
   */
  int check(byte[] data, int offset, int length) {
    Cursor in = new Cursor(data, offset, offset + length);
    walk(schema, in, "", 0);
    return in.pos - offset;
  }

  /** A count, length or encoding that the body cannot hold; the message says which and where. */
  static final class OutOfBounds extends RuntimeException {
    private final boolean truncated;

    OutOfBounds(String message) {
      this(message, false);
    }

    OutOfBounds(String message, boolean truncated) {
      super(message, null, false, false);
      this.truncated = truncated;
    }

    /** True when the body simply ends early (a fixed-size value or a varint cut off). */
    boolean truncated() {
      return truncated;
    }
  }

  private void walk(Schema s, Cursor in, String path, int depth) {
    if (depth > MAX_DEPTH) {
      throw new OutOfBounds(
          at(path) + "nested deeper than " + MAX_DEPTH + " levels, " + in.left() + " bytes left");
    }
    switch (s.getType()) {
      case NULL -> {}
      case BOOLEAN -> in.skip(1, path, "boolean");
      case INT -> in.varint(5, path);
      case LONG -> in.varint(10, path);
      case FLOAT -> in.skip(4, path, "float");
      case DOUBLE -> in.skip(8, path, "double");
      case FIXED -> in.skip(s.getFixedSize(), path, "fixed " + s.getFullName());
      case STRING, BYTES -> {
        long n = in.varint(10, path);
        String what = s.getType() == Schema.Type.STRING ? "string" : "bytes";
        if (n < 0) {
          throw new OutOfBounds(at(path) + what + " length " + n + " is negative");
        }
        if (n > in.left()) {
          throw new OutOfBounds(
              at(path) + what + " length " + n + " exceeds the " + in.left() + " bytes left");
        }
        in.pos += (int) n;
      }
      case ENUM -> {
        long i = in.varint(5, path);
        if (i < 0 || i >= s.getEnumSymbols().size()) {
          throw new OutOfBounds(
              at(path)
                  + "enum index "
                  + i
                  + " is not one of the "
                  + s.getEnumSymbols().size()
                  + " symbols of "
                  + s.getFullName());
        }
      }
      case UNION -> {
        long i = in.varint(10, path);
        if (i < 0 || i >= s.getTypes().size()) {
          throw new OutOfBounds(
              at(path)
                  + "union branch "
                  + i
                  + " is not one of the "
                  + s.getTypes().size()
                  + " branches "
                  + s.getTypes().stream().map(Schema::getName).toList());
        }
        walk(s.getTypes().get((int) i), in, path, depth + 1);
      }
      case RECORD -> {
        for (Schema.Field f : s.getFields()) {
          walk(f.schema(), in, path.isEmpty() ? f.name() : path + "." + f.name(), depth + 1);
        }
      }
      case ARRAY -> blocks(s.getElementType(), false, in, path, depth);
      case MAP -> blocks(s.getValueType(), true, in, path, depth);
    }
  }

  /** The blocks of an array or map: each block's count is checked before its items are walked. */
  private void blocks(Schema item, boolean map, Cursor in, String path, int depth) {
    String what = map ? "map" : "array";
    int itemSize = Math.max(1, minSizes.get(item) + (map ? 1 : 0)); // a map key is >= 1 byte
    long index = 0;
    while (true) {
      long count = in.varint(10, path);
      if (count == 0) {
        return;
      }
      if (count < 0) { // a negative count is followed by the block's size in bytes
        if (count == Long.MIN_VALUE) {
          throw new OutOfBounds(at(path) + what + " block count " + count + " is out of range");
        }
        count = -count;
        long blockBytes = in.varint(10, path);
        if (blockBytes < 0 || blockBytes > in.left()) {
          throw new OutOfBounds(
              at(path)
                  + what
                  + " block of "
                  + count
                  + " items claims "
                  + blockBytes
                  + " bytes, but "
                  + in.left()
                  + " bytes are left");
        }
      }
      if (count > in.left() / itemSize) {
        throw new OutOfBounds(
            at(path)
                + what
                + " block count "
                + count
                + " exceeds what the "
                + in.left()
                + " bytes left can hold (each item takes at least "
                + itemSize
                + (itemSize == 1 ? " byte)" : " bytes)"));
      }
      for (long i = 0; i < count; i++, index++) {
        String itemPath = path + "[" + index + "]";
        if (map) {
          walk(Schema.create(Schema.Type.STRING), in, itemPath + " key", depth + 1);
        }
        walk(item, in, itemPath, depth + 1);
      }
    }
  }

  /** The fewest bytes a value of {@code s} encodes to; cached per schema node. */
  private int minSize(Schema s, Map<Schema, Boolean> visiting) {
    Integer known = minSizes.get(s);
    if (known != null) {
      return known;
    }
    if (visiting.put(s, Boolean.TRUE) != null) {
      return 0; // recursive reference: counted once, where it is defined
    }
    int size =
        switch (s.getType()) {
          case NULL -> 0;
          case BOOLEAN, INT, LONG, ENUM, STRING, BYTES, ARRAY, MAP -> {
            if (s.getType() == Schema.Type.ARRAY) {
              minSize(s.getElementType(), visiting);
            } else if (s.getType() == Schema.Type.MAP) {
              minSize(s.getValueType(), visiting);
            }
            yield 1; // one varint byte (a length, count, index or value)
          }
          case FLOAT -> 4;
          case DOUBLE -> 8;
          case FIXED -> s.getFixedSize();
          case UNION -> {
            int least = Integer.MAX_VALUE;
            for (Schema branch : s.getTypes()) {
              least = Math.min(least, minSize(branch, visiting));
            }
            yield 1 + (least == Integer.MAX_VALUE ? 0 : least);
          }
          case RECORD -> {
            long sum = 0;
            for (Schema.Field f : s.getFields()) {
              sum += minSize(f.schema(), visiting);
            }
            yield (int) Math.min(sum, Integer.MAX_VALUE);
          }
        };
    visiting.remove(s);
    minSizes.put(s, size);
    return size;
  }

  private static String at(String path) {
    return path.isEmpty() ? "" : "field " + path + ": ";
  }

  /** A read position in the body. */
  private static final class Cursor {
    final byte[] data;
    final int end;
    int pos;

    Cursor(byte[] data, int pos, int end) {
      this.data = data;
      this.pos = pos;
      this.end = end;
    }

    int left() {
      return end - pos;
    }

    void skip(int n, String path, String what) {
      if (n > left()) {
        throw new OutOfBounds(
            at(path) + what + " needs " + n + " bytes, but " + left() + " bytes are left", true);
      }
      pos += n;
    }

    /** A zig-zag varint of at most {@code maxBytes} bytes, decoded. */
    long varint(int maxBytes, String path) {
      long raw = 0;
      for (int i = 0; i < maxBytes; i++) {
        if (pos >= end) {
          throw new OutOfBounds(at(path) + "the body ends inside a varint", true);
        }
        int b = data[pos++] & 0xff;
        raw |= (long) (b & 0x7f) << (7 * i);
        if ((b & 0x80) == 0) {
          return (raw >>> 1) ^ -(raw & 1);
        }
      }
      throw new OutOfBounds(
          at(path) + "varint longer than " + maxBytes + " bytes (" + left() + " bytes left)");
    }
  }
}
