package dev.lorastream.engine.io;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * Test-only safetensors writer: builds {@code [u64 LE headerLen][JSON header][data]} files,
 * including deliberately broken ones ({@link #writeRaw}). Not the production writer.
 */
public final class TestSafetensors {

  private record Entry(String dtype, int[] shape, byte[] data) {}

  private final Map<String, Entry> tensors = new LinkedHashMap<>();
  private final Map<String, String> metadata = new LinkedHashMap<>();

  public TestSafetensors f32(String name, float[] values, int... shape) {
    ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    for (float v : values) {
      b.putFloat(v);
    }
    return raw(name, "F32", shape, b.array());
  }

  public TestSafetensors f16(String name, float[] values, int... shape) {
    ByteBuffer b = ByteBuffer.allocate(values.length * 2).order(ByteOrder.LITTLE_ENDIAN);
    for (float v : values) {
      b.putShort(Float.floatToFloat16(v));
    }
    return raw(name, "F16", shape, b.array());
  }

  /** Truncates to the top 16 bits: exact for values with at most 8 significant bits. */
  public TestSafetensors bf16(String name, float[] values, int... shape) {
    ByteBuffer b = ByteBuffer.allocate(values.length * 2).order(ByteOrder.LITTLE_ENDIAN);
    for (float v : values) {
      b.putShort((short) (Float.floatToRawIntBits(v) >>> 16));
    }
    return raw(name, "BF16", shape, b.array());
  }

  public TestSafetensors raw(String name, String dtype, int[] shape, byte[] data) {
    tensors.put(name, new Entry(dtype, shape.clone(), data));
    return this;
  }

  public TestSafetensors metadata(String key, String value) {
    metadata.put(key, value);
    return this;
  }

  /** Writes the file (creating parent directories) and returns it. */
  public Path write(Path file) {
    StringBuilder header = new StringBuilder("{");
    if (!metadata.isEmpty()) {
      header
          .append("\"__metadata__\":{")
          .append(
              metadata.entrySet().stream()
                  .map(e -> "\"" + e.getKey() + "\":\"" + e.getValue() + "\"")
                  .collect(Collectors.joining(",")))
          .append("}");
    }
    long offset = 0;
    java.io.ByteArrayOutputStream data = new java.io.ByteArrayOutputStream();
    for (var e : tensors.entrySet()) {
      Entry t = e.getValue();
      if (header.length() > 1) {
        header.append(',');
      }
      header
          .append("\"")
          .append(e.getKey())
          .append("\":{\"dtype\":\"")
          .append(t.dtype)
          .append("\",\"shape\":")
          .append(Arrays.toString(t.shape).replace(" ", ""))
          .append(",\"data_offsets\":[")
          .append(offset)
          .append(',')
          .append(offset + t.data.length)
          .append("]}");
      data.writeBytes(t.data);
      offset += t.data.length;
    }
    header.append('}');
    return writeRaw(file, header.toString(), data.toByteArray());
  }

  /**
   * Writes {@code headerJson} (space-padded to 8 bytes, like the reference writer) followed by
   * {@code data}.
   */
  public static Path writeRaw(Path file, String headerJson, byte[] data) {
    byte[] h = headerJson.getBytes(StandardCharsets.UTF_8);
    int padded = (h.length + 7) / 8 * 8;
    ByteBuffer b = ByteBuffer.allocate(8 + padded + data.length).order(ByteOrder.LITTLE_ENDIAN);
    b.putLong(padded).put(h);
    for (int i = h.length; i < padded; i++) {
      b.put((byte) ' ');
    }
    b.put(data);
    return writeBytes(file, b.array());
  }

  public static Path writeBytes(Path file, byte[] bytes) {
    try {
      if (file.getParent() != null) {
        Files.createDirectories(file.getParent());
      }
      return Files.write(file, bytes);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
