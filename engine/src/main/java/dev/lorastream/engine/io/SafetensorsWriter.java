package dev.lorastream.engine.io;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.lorastream.engine.tensor.DType;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Writes {@code .safetensors} files: an 8-byte little-endian header length, a JSON header
 * (space-padded to a multiple of 8 bytes) mapping each tensor name to {@code dtype}, {@code shape}
 * and {@code data_offsets}, then the raw little-endian tensor bytes in the order given.
 *
 * <p>Streams: each tensor's values are produced by its {@link ValueSource} a chunk at a time,
 * encoded and written, so a 13 GB file needs only a few MiB of heap. F16 uses {@link
 * Float#floatToFloat16} (round to nearest even); BF16 rounds to nearest even as well (NaN stays a
 * quiet NaN). Stateless and thread-safe.
 */
public final class SafetensorsWriter {

  /** Elements encoded per write: 1 Mi elements, at most 4 MiB of buffer. */
  private static final int CHUNK = Integer.getInteger("lorastream.safetensors.writeChunk", 1 << 20);

  private static final ObjectMapper JSON = new ObjectMapper();

  /**
   * Produces the values of one tensor in row-major order. Must be a pure function of its arguments
   * (the writer may call it in any chunking), so the same source always gives the same bytes.
   */
  @FunctionalInterface
  public interface ValueSource {
    /**
     * Writes elements {@code start .. start+len-1} (flat row-major indices) into {@code
     * dst[0..len)}.
     */
    void fill(long start, float[] dst, int len);
  }

  /**
   * One tensor to write.
   *
   * @param name the header key (e.g. {@code model.layers.0.self_attn.q_proj.weight})
   * @param dtype how the values are stored
   * @param shape dimensions, outermost first
   * @param values the element values (encoded to {@code dtype} by the writer)
   */
  public record Entry(String name, DType dtype, int[] shape, ValueSource values) {
    public Entry {
      shape = shape.clone();
      for (int d : shape) {
        if (d < 0) {
          throw new IllegalArgumentException(
              "tensor '" + name + "' has negative dim in " + Arrays.toString(shape));
        }
      }
    }

    /**
     * A tensor whose values are given as an array ({@code values.length} must equal the element
     * count).
     */
    public static Entry ofFloats(String name, DType dtype, float[] values, int... shape) {
      if (SafetensorsWriter.numel(shape) != values.length) {
        throw new IllegalArgumentException(
            "tensor '"
                + name
                + "' shape "
                + Arrays.toString(shape)
                + " needs "
                + SafetensorsWriter.numel(shape)
                + " values, got "
                + values.length);
      }
      float[] copy = values.clone();
      return new Entry(
          name,
          dtype,
          shape,
          (start, dst, len) -> System.arraycopy(copy, (int) start, dst, 0, len));
    }

    public long numel() {
      return SafetensorsWriter.numel(shape);
    }

    public long byteSize() {
      return numel() * dtype.bytes();
    }

    @Override
    public int[] shape() {
      return shape.clone();
    }
  }

  private SafetensorsWriter() {}

  /**
   * Writes {@code entries} to {@code file} (replacing it) with the given {@code __metadata__}
   * (null: {@code {"format":"pt"}}).
   *
   * @return the total number of bytes written
   * @throws IllegalArgumentException on duplicate tensor names
   */
  public static long write(Path file, List<Entry> entries, Map<String, String> metadata)
      throws IOException {
    byte[] header = header(entries, metadata == null ? Map.of("format", "pt") : metadata);
    try (FileChannel ch =
        FileChannel.open(
            file,
            StandardOpenOption.CREATE,
            StandardOpenOption.WRITE,
            StandardOpenOption.TRUNCATE_EXISTING)) {
      ByteBuffer prefix = ByteBuffer.allocate(8 + header.length).order(ByteOrder.LITTLE_ENDIAN);
      prefix.putLong(header.length).put(header).flip();
      writeFully(ch, prefix);
      ByteBuffer out = ByteBuffer.allocateDirect(CHUNK * 4).order(ByteOrder.LITTLE_ENDIAN);
      float[] values = new float[CHUNK];
      for (Entry e : entries) {
        writeTensor(ch, e, values, out);
      }
      return ch.position();
    }
  }

  /** Convenience: {@link #write(Path, List, Map)} with {@code {"format":"pt"}} metadata. */
  public static long write(Path file, List<Entry> entries) throws IOException {
    return write(file, entries, null);
  }

  /** The header bytes (JSON, space-padded to a multiple of 8), without the 8-byte length prefix. */
  static byte[] header(List<Entry> entries, Map<String, String> metadata) {
    ObjectNode root = JSON.createObjectNode();
    ObjectNode meta = root.putObject("__metadata__");
    metadata.forEach(meta::put);
    Set<String> seen = new HashSet<>();
    long offset = 0;
    for (Entry e : entries) {
      if (!seen.add(e.name()) || e.name().equals("__metadata__")) {
        throw new IllegalArgumentException("duplicate or reserved tensor name '" + e.name() + "'");
      }
      ObjectNode t = root.putObject(e.name());
      t.put("dtype", e.dtype().safetensorsName());
      var shape = t.putArray("shape");
      for (int d : e.shape) {
        shape.add(d);
      }
      long end = offset + e.byteSize();
      t.putArray("data_offsets").add(offset).add(end);
      offset = end;
    }
    byte[] json = root.toString().getBytes(StandardCharsets.UTF_8);
    int padded = (json.length + 7) & ~7;
    byte[] out = Arrays.copyOf(json, padded);
    Arrays.fill(out, json.length, padded, (byte) ' ');
    return out;
  }

  private static void writeTensor(FileChannel ch, Entry e, float[] values, ByteBuffer out)
      throws IOException {
    long n = e.numel();
    for (long start = 0; start < n; start += CHUNK) {
      int len = (int) Math.min(CHUNK, n - start);
      e.values().fill(start, values, len);
      out.clear();
      switch (e.dtype()) {
        case F32 -> {
          for (int i = 0; i < len; i++) {
            out.putFloat(values[i]);
          }
        }
        case F16 -> {
          for (int i = 0; i < len; i++) {
            out.putShort(Float.floatToFloat16(values[i]));
          }
        }
        case BF16 -> {
          for (int i = 0; i < len; i++) {
            out.putShort(toBf16(values[i]));
          }
        }
      }
      out.flip();
      writeFully(ch, out);
    }
  }

  /** float → bfloat16 bits, round to nearest even; NaN → quiet NaN. */
  public static short toBf16(float f) {
    int bits = Float.floatToRawIntBits(f);
    if (Float.isNaN(f)) {
      return (short) ((bits >>> 16) | 0x0040);
    }
    int roundingBias = 0x7FFF + ((bits >>> 16) & 1);
    return (short) ((bits + roundingBias) >>> 16);
  }

  private static void writeFully(FileChannel ch, ByteBuffer buf) throws IOException {
    while (buf.hasRemaining()) {
      ch.write(buf);
    }
  }

  static long numel(int[] shape) {
    long n = 1;
    for (int d : shape) {
      n *= d;
    }
    return n;
  }
}
