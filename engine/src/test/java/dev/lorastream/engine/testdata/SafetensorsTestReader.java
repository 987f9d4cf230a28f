package dev.lorastream.engine.testdata;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A deliberately naive safetensors reader for tests (whole file in memory): independent of the
 * engine's loader so that writer and loader are checked against each other, not against themselves.
 */
public final class SafetensorsTestReader {

  /** One header entry. */
  public record Info(String dtype, int[] shape, long begin, long end) {}

  private final ByteBuffer bytes;
  private final long dataStart;

  /** Header JSON length (without the 8-byte prefix). */
  public final long headerLength;

  public final JsonNode header;
  public final Map<String, Info> tensors = new LinkedHashMap<>();

  public SafetensorsTestReader(Path file) throws IOException {
    bytes = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
    headerLength = bytes.getLong(0);
    dataStart = 8 + headerLength;
    header =
        new ObjectMapper()
            .readTree(
                new String(bytes.array(), 8, (int) headerLength, StandardCharsets.UTF_8).strip());
    header
        .properties()
        .forEach(
            e -> {
              if (e.getKey().equals("__metadata__")) {
                return;
              }
              JsonNode t = e.getValue();
              int[] shape = new int[t.get("shape").size()];
              for (int i = 0; i < shape.length; i++) {
                shape[i] = t.get("shape").get(i).asInt();
              }
              tensors.put(
                  e.getKey(),
                  new Info(
                      t.get("dtype").asText(),
                      shape,
                      t.get("data_offsets").get(0).asLong(),
                      t.get("data_offsets").get(1).asLong()));
            });
  }

  public long fileSize() {
    return bytes.capacity();
  }

  public long dataStart() {
    return dataStart;
  }

  /** The raw bytes of {@code name}. */
  public byte[] bytes(String name) {
    Info t = tensors.get(name);
    if (t == null) {
      throw new IllegalArgumentException("no tensor " + name + " in " + tensors.keySet());
    }
    byte[] out = new byte[(int) (t.end() - t.begin())];
    bytes.get((int) (dataStart + t.begin()), out);
    return out;
  }

  /** All values of {@code name} decoded to float. */
  public float[] floats(String name) {
    Info t = tensors.get(name);
    if (t == null) {
      throw new IllegalArgumentException("no tensor " + name + " in " + tensors.keySet());
    }
    int size = t.dtype().equals("F32") ? 4 : 2;
    float[] out = new float[(int) ((t.end() - t.begin()) / size)];
    for (int i = 0; i < out.length; i++) {
      int at = (int) (dataStart + t.begin() + (long) i * size);
      out[i] =
          switch (t.dtype()) {
            case "F32" -> bytes.getFloat(at);
            case "F16" -> Float.float16ToFloat(bytes.getShort(at));
            case "BF16" -> Float.intBitsToFloat((bytes.getShort(at) & 0xFFFF) << 16);
            default -> throw new IllegalArgumentException("dtype " + t.dtype());
          };
    }
    return out;
  }
}
