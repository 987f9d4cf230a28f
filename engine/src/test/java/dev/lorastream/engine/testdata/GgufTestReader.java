package dev.lorastream.engine.testdata;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A deliberately naive GGUF reader for tests (whole file in memory), written from ggml's gguf.md
 * and independent of the engine's writer, so that the writer is checked against the format, not
 * against itself. Values keep their GGUF type: uint32 and uint64 as {@link Long}, int32 as {@link
 * Integer}, float32 as {@link Float}, bool as {@link Boolean}, string as {@link String}, arrays as
 * {@link Arr}.
 */
public final class GgufTestReader {

  /** A typed metadata value; {@code type} is the GGUF value type id. */
  public record Value(int type, Object value) {}

  /** An array value; {@code elementType} is the GGUF value type id of its elements. */
  public record Arr(int elementType, List<Object> items) {}

  /** One tensor info: {@code ne} innermost first, {@code offset} relative to the data section. */
  public record Info(String name, long[] ne, int type, long offset) {
    public long numel() {
      long n = 1;
      for (long d : ne) {
        n *= d;
      }
      return n;
    }
  }

  private final ByteBuffer b;
  public final int magic;
  public final int version;
  public final Map<String, Value> kv = new LinkedHashMap<>();
  public final Map<String, Info> tensors = new LinkedHashMap<>();

  /** Where the tensor infos end (before the padding). */
  public final long infosEnd;

  /** Start of the data section: the infos' end rounded up to the alignment. */
  public final long dataStart;

  public final int alignment;

  public GgufTestReader(Path file) throws IOException {
    b = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
    magic = b.getInt();
    version = b.getInt();
    long nTensors = b.getLong();
    long nKv = b.getLong();
    for (long i = 0; i < nKv; i++) {
      String key = string();
      int type = b.getInt();
      if (kv.put(key, new Value(type, value(type))) != null) {
        throw new IOException("duplicate key " + key);
      }
    }
    for (long i = 0; i < nTensors; i++) {
      String name = string();
      int nDims = b.getInt();
      long[] ne = new long[nDims];
      for (int d = 0; d < nDims; d++) {
        ne[d] = b.getLong();
      }
      int type = b.getInt();
      long offset = b.getLong();
      tensors.put(name, new Info(name, ne, type, offset));
    }
    infosEnd = b.position();
    Value a = kv.get("general.alignment");
    alignment = a == null ? 32 : (int) (long) (Long) a.value();
    dataStart = (infosEnd + alignment - 1) / alignment * alignment;
  }

  private String string() {
    long n = b.getLong();
    byte[] s = new byte[Math.toIntExact(n)];
    b.get(s);
    return new String(s, StandardCharsets.UTF_8);
  }

  private Object value(int type) {
    return switch (type) {
      case 0 -> (long) (b.get() & 0xFF);
      case 1 -> (int) b.get();
      case 2 -> (long) (b.getShort() & 0xFFFF);
      case 3 -> (int) b.getShort();
      case 4 -> b.getInt() & 0xFFFF_FFFFL;
      case 5 -> b.getInt();
      case 6 -> b.getFloat();
      case 7 -> {
        byte v = b.get();
        if (v != 0 && v != 1) {
          throw new IllegalStateException("bool byte " + v);
        }
        yield v == 1;
      }
      case 8 -> string();
      case 9 -> {
        int et = b.getInt();
        long n = b.getLong();
        List<Object> items = new ArrayList<>();
        for (long i = 0; i < n; i++) {
          items.add(value(et));
        }
        yield new Arr(et, items);
      }
      case 10 -> b.getLong();
      case 11 -> b.getLong();
      case 12 -> b.getDouble();
      default -> throw new IllegalStateException("unknown GGUF value type " + type);
    };
  }

  public long fileSize() {
    return b.capacity();
  }

  /** The raw value of {@code key} (throws when absent). */
  public Object get(String key) {
    Value v = kv.get(key);
    if (v == null) {
      throw new IllegalArgumentException("no key " + key + " in " + kv.keySet());
    }
    return v.value();
  }

  /** The items of array {@code key}. */
  public List<Object> array(String key) {
    return ((Arr) get(key)).items();
  }

  /** Bytes per element of the ggml types the exporter writes. */
  public static int typeBytes(int type) {
    return switch (type) {
      case 0 -> 4;
      case 1, 30 -> 2;
      default -> throw new IllegalArgumentException("type " + type);
    };
  }

  public long byteSize(String tensor) {
    Info t = tensors.get(tensor);
    return t.type() == Q8_0 ? t.numel() / 32 * 34 : t.numel() * typeBytes(t.type());
  }

  /** ggml's Q8_0 type id: blocks of 32 elements, an F16 scale then 32 int8. */
  public static final int Q8_0 = 8;

  /** A Q8_0 tensor's elements decoded to float ({@code d · q} per block). */
  public float[] q8_0(String tensor) {
    Info t = tensors.get(tensor);
    if (t.type() != Q8_0) {
      throw new IllegalArgumentException(tensor + " is type " + t.type() + ", not Q8_0");
    }
    float[] out = new float[Math.toIntExact(t.numel())];
    int at = Math.toIntExact(dataStart + t.offset());
    for (int blk = 0; blk < out.length / 32; blk++) {
      int p = at + 34 * blk;
      float d = Float.float16ToFloat(b.getShort(p));
      for (int j = 0; j < 32; j++) {
        out[32 * blk + j] = d * b.get(p + 2 + j);
      }
    }
    return out;
  }

  /** The tensor's raw bytes. */
  public byte[] bytes(String tensor) {
    Info t = tensors.get(tensor);
    byte[] out = new byte[Math.toIntExact(byteSize(tensor))];
    b.get(Math.toIntExact(dataStart + t.offset()), out);
    return out;
  }

  /** The tensor's elements decoded to float (F32, F16 or BF16). */
  public float[] floats(String tensor) {
    Info t = tensors.get(tensor);
    float[] out = new float[Math.toIntExact(t.numel())];
    int at = Math.toIntExact(dataStart + t.offset());
    for (int i = 0; i < out.length; i++) {
      out[i] =
          switch (t.type()) {
            case 0 -> b.getFloat(at + 4 * i);
            case 1 -> Float.float16ToFloat(b.getShort(at + 2 * i));
            case 30 -> Float.intBitsToFloat((b.getShort(at + 2 * i) & 0xFFFF) << 16);
            default -> throw new IllegalArgumentException("type " + t.type());
          };
    }
    return out;
  }

  /** The file's bytes in {@code [from, to)}. */
  public byte[] range(long from, long to) {
    byte[] out = new byte[Math.toIntExact(to - from)];
    b.get(Math.toIntExact(from), out);
    return out;
  }
}
