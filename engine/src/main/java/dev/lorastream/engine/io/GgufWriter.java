package dev.lorastream.engine.io;

import dev.lorastream.engine.tensor.DType;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Writes GGUF version 3 files (ggml's format for llama.cpp), little-endian.
 *
 * <p>Layout: {@code u32 magic "GGUF", u32 version 3, u64 tensor count, u64 key/value count}, the
 * key/value pairs ({@code gguf_string key, u32 value type, value}; a string is {@code u64 byte
 * length + UTF-8 bytes}, an array {@code u32 element type, u64 count, elements}), the tensor infos
 * ({@code name, u32 n_dims, u64 ne[n_dims]} with {@code ne[0]} the innermost (contiguous)
 * dimension, {@code u32 ggml type, u64 offset} relative to the data section), zero padding to
 * {@link #ALIGNMENT}, then each tensor's bytes, each padded with zeros to {@link #ALIGNMENT} (every
 * offset is a multiple of it). {@code general.alignment} is written as 32 unless the caller set it.
 *
 * <p>Streams: metadata and tensor infos are built in memory (a few MB at most, for a large vocab),
 * tensor bytes are produced by each tensor's {@link TensorData} into a small buffer and written as
 * they come, so a file of many GB needs only a few MiB of heap. The file is written next to its
 * destination as {@code NAME.part} and moved into place when complete, so a failed export leaves no
 * truncated file behind. Not thread-safe; one writer builds one file.
 */
public final class GgufWriter {

  /** {@code "GGUF"} read as a little-endian u32. */
  public static final int MAGIC = 0x46554747;

  public static final int VERSION = 3;

  /** Alignment of the data section and of every tensor offset ({@code general.alignment}). */
  public static final int ALIGNMENT = 32;

  public static final String ALIGNMENT_KEY = "general.alignment";

  /** ggml's {@code GGML_MAX_NAME} is 64 bytes including the terminating NUL. */
  public static final int MAX_TENSOR_NAME_BYTES = 63;

  /** ggml's {@code GGML_MAX_DIMS}. */
  public static final int MAX_DIMS = 4;

  private static final int BUFFER_BYTES = 4 << 20;

  /** GGUF metadata value types (gguf.md {@code gguf_metadata_value_type}). */
  public enum ValueType {
    UINT8(0),
    INT8(1),
    UINT16(2),
    INT16(3),
    UINT32(4),
    INT32(5),
    FLOAT32(6),
    BOOL(7),
    STRING(8),
    ARRAY(9),
    UINT64(10),
    INT64(11),
    FLOAT64(12);

    public final int id;

    ValueType(int id) {
      this.id = id;
    }
  }

  /** The ggml tensor types this writer emits ({@code ggml_type} / GGMLQuantizationType). */
  public enum TensorType {
    F32(0, 1, 4),
    F16(1, 1, 2),
    BF16(30, 1, 2),
    /**
     * ggml's {@code block_q8_0}: blocks of 32 elements along {@code ne[0]}, each an F16 scale
     * {@code d} then 32 int8 {@code q} (value = d · q): 34 bytes per block.
     */
    Q8_0(8, 32, 34);

    public final int id;

    /** Elements per block (1 for the plain types); {@code ne[0]} must be a multiple of it. */
    public final int blockElems;

    /** Bytes per block. */
    public final int blockBytes;

    TensorType(int id, int blockElems, int blockBytes) {
      this.id = id;
      this.blockElems = blockElems;
      this.blockBytes = blockBytes;
    }

    /** Bytes of {@code numel} elements (a whole number of blocks). */
    public long bytesOf(long numel) {
      return Math.multiplyExact(numel / blockElems, (long) blockBytes);
    }

    /** The ggml type storing {@code d} unchanged. */
    public static TensorType of(DType d) {
      return switch (d) {
        case F32 -> F32;
        case F16 -> F16;
        case BF16 -> BF16;
        case I8 ->
            throw new IllegalArgumentException(
                "no ggml type stores lorastream's I8 (int8 with a scale per row) unchanged");
      };
    }
  }

  /** Produces one tensor's bytes, in ggml order (the {@code ne[0]} dimension contiguous). */
  @FunctionalInterface
  public interface TensorData {
    /** Writes exactly the tensor's byte size to {@code out}. */
    void writeTo(Sink out) throws IOException;
  }

  /** Where {@link TensorData} writes: a buffered, counting, little-endian channel writer. */
  public static final class Sink {
    private final FileChannel ch;
    private final ByteBuffer buf =
        ByteBuffer.allocateDirect(BUFFER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
    private final MemorySegment bufSeg = MemorySegment.ofBuffer(buf.duplicate().clear());
    private long written;

    private Sink(FileChannel ch) {
      this.ch = ch;
    }

    /** Copies all bytes of {@code src} (e.g. a slice of a mapped safetensors file). */
    public void write(MemorySegment src) throws IOException {
      long off = 0;
      long n = src.byteSize();
      while (off < n) {
        if (!buf.hasRemaining()) {
          flush();
        }
        int len = (int) Math.min(buf.remaining(), n - off);
        MemorySegment.copy(src, off, bufSeg, buf.position(), len);
        buf.position(buf.position() + len);
        off += len;
      }
      written += n;
    }

    /** Writes one little-endian float32. */
    public void writeFloat(float v) throws IOException {
      if (buf.remaining() < Float.BYTES) {
        flush();
      }
      buf.putFloat(v);
      written += Float.BYTES;
    }

    void writeZeros(long n) throws IOException {
      for (long i = 0; i < n; i++) {
        if (!buf.hasRemaining()) {
          flush();
        }
        buf.put((byte) 0);
      }
      written += n;
    }

    /** Writes {@code b}. */
    public void writeBytes(byte[] b) throws IOException {
      write(MemorySegment.ofArray(b));
    }

    /** Writes one little-endian 16-bit value. */
    public void writeShort(short v) throws IOException {
      if (buf.remaining() < Short.BYTES) {
        flush();
      }
      buf.putShort(v);
      written += Short.BYTES;
    }

    /** Bytes written so far. */
    public long written() {
      return written;
    }

    void flush() throws IOException {
      buf.flip();
      while (buf.hasRemaining()) {
        ch.write(buf);
      }
      buf.clear();
    }
  }

  private record Tensor(String name, TensorType type, long[] ne, long bytes, TensorData data) {}

  private final Map<String, byte[]> kv = new LinkedHashMap<>(); // key -> u32 type + value bytes
  private final List<Tensor> tensors = new ArrayList<>();
  private final Set<String> tensorNames = new HashSet<>();

  /** Adds a {@code string} value. */
  public GgufWriter putString(String key, String value) {
    Le b = new Le();
    b.u32(ValueType.STRING.id);
    b.string(value);
    return put(key, b);
  }

  /**
   * Adds a {@code uint32} value.
   *
   * @throws IllegalArgumentException when {@code value} is outside {@code [0, 2^32)}
   */
  public GgufWriter putUInt32(String key, long value) {
    if (value < 0 || value > 0xFFFF_FFFFL) {
      throw new IllegalArgumentException(key + " = " + value + " does not fit in a uint32");
    }
    Le b = new Le();
    b.u32(ValueType.UINT32.id);
    b.u32((int) value);
    return put(key, b);
  }

  /** Adds an {@code int32} value. */
  public GgufWriter putInt32(String key, int value) {
    Le b = new Le();
    b.u32(ValueType.INT32.id);
    b.u32(value);
    return put(key, b);
  }

  /** Adds a {@code float32} value. */
  public GgufWriter putFloat32(String key, float value) {
    Le b = new Le();
    b.u32(ValueType.FLOAT32.id);
    b.u32(Float.floatToRawIntBits(value));
    return put(key, b);
  }

  /** Adds a {@code bool} value (one byte, 0 or 1). */
  public GgufWriter putBool(String key, boolean value) {
    Le b = new Le();
    b.u32(ValueType.BOOL.id);
    b.out.write(value ? 1 : 0);
    return put(key, b);
  }

  /**
   * Adds a {@code uint64} value.
   *
   * @throws IllegalArgumentException when {@code value} is negative
   */
  public GgufWriter putUInt64(String key, long value) {
    if (value < 0) {
      throw new IllegalArgumentException(key + " = " + value + " is negative: not a uint64");
    }
    Le b = new Le();
    b.u32(ValueType.UINT64.id);
    b.u64(value);
    return put(key, b);
  }

  /** Adds an array of strings. */
  public GgufWriter putStringArray(String key, List<String> values) {
    Le b = arrayHeader(ValueType.STRING, values.size());
    for (String s : values) {
      b.string(s);
    }
    return put(key, b);
  }

  /** Adds an array of int32. */
  public GgufWriter putInt32Array(String key, int[] values) {
    Le b = arrayHeader(ValueType.INT32, values.length);
    for (int v : values) {
      b.u32(v);
    }
    return put(key, b);
  }

  /** Adds an array of float32. */
  public GgufWriter putFloat32Array(String key, float[] values) {
    Le b = arrayHeader(ValueType.FLOAT32, values.length);
    for (float v : values) {
      b.u32(Float.floatToRawIntBits(v));
    }
    return put(key, b);
  }

  private static Le arrayHeader(ValueType type, int n) {
    Le b = new Le();
    b.u32(ValueType.ARRAY.id);
    b.u32(type.id);
    b.u64(n);
    return b;
  }

  private GgufWriter put(String key, Le value) {
    if (key == null || key.isEmpty()) {
      throw new IllegalArgumentException("a GGUF metadata key must not be empty");
    }
    if (kv.putIfAbsent(key, value.out.toByteArray()) != null) {
      throw new IllegalArgumentException("duplicate GGUF metadata key '" + key + "'");
    }
    return this;
  }

  /** Whether metadata {@code key} has been added. */
  public boolean hasKey(String key) {
    return kv.containsKey(key);
  }

  /**
   * Adds a tensor; its data section entries follow the order of these calls.
   *
   * @param ne dimensions, innermost first ({@code [in, out]} for a PyTorch {@code [out, in]}
   *     weight)
   * @throws IllegalArgumentException on a duplicate or too long name, or bad dimensions
   */
  public GgufWriter addTensor(String name, TensorType type, long[] ne, TensorData data) {
    int nameBytes = name.getBytes(StandardCharsets.UTF_8).length;
    if (nameBytes == 0 || nameBytes > MAX_TENSOR_NAME_BYTES) {
      throw new IllegalArgumentException(
          "tensor name '"
              + name
              + "' is "
              + nameBytes
              + " bytes; ggml takes 1.."
              + MAX_TENSOR_NAME_BYTES);
    }
    if (!tensorNames.add(name)) {
      throw new IllegalArgumentException("duplicate GGUF tensor name '" + name + "'");
    }
    if (ne.length == 0 || ne.length > MAX_DIMS) {
      throw new IllegalArgumentException(
          "tensor '" + name + "' has " + ne.length + " dims; ggml takes 1.." + MAX_DIMS);
    }
    long numel = 1;
    for (long d : ne) {
      if (d <= 0) {
        throw new IllegalArgumentException(
            "tensor '" + name + "' has a dim <= 0 in " + Arrays.toString(ne));
      }
      numel = Math.multiplyExact(numel, d);
    }
    if (ne[0] % type.blockElems != 0) {
      throw new IllegalArgumentException(
          "tensor '"
              + name
              + "' has ne[0] = "
              + ne[0]
              + ": "
              + type
              + " stores blocks of "
              + type.blockElems
              + " along it");
    }
    tensors.add(new Tensor(name, type, ne.clone(), type.bytesOf(numel), data));
    return this;
  }

  /** {@code x} rounded up to a multiple of {@link #ALIGNMENT}. */
  public static long align(long x) {
    return (x + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT;
  }

  /**
   * Writes the file (replacing {@code file}).
   *
   * @return the file's size in bytes
   * @throws IOException naming {@code file} and the cause when it cannot be written; nothing is
   *     left at {@code file} or its {@code .part} then
   * @throws IllegalStateException when a {@link TensorData} writes more or fewer bytes than its
   *     tensor holds
   */
  public long write(Path file) throws IOException {
    if (!kv.containsKey(ALIGNMENT_KEY)) {
      putUInt32(ALIGNMENT_KEY, ALIGNMENT);
    }
    byte[] header = header();
    Path part = file.resolveSibling(file.getFileName() + ".part");
    boolean done = false;
    try {
      long size;
      try (FileChannel ch =
          FileChannel.open(
              part,
              StandardOpenOption.CREATE,
              StandardOpenOption.WRITE,
              StandardOpenOption.TRUNCATE_EXISTING)) {
        Sink out = new Sink(ch);
        out.writeBytes(header);
        out.writeZeros(align(header.length) - header.length);
        for (Tensor t : tensors) {
          long start = out.written();
          t.data().writeTo(out);
          long n = out.written() - start;
          if (n != t.bytes()) {
            throw new IllegalStateException(
                "tensor '" + t.name() + "' wrote " + n + " bytes but holds " + t.bytes());
          }
          out.writeZeros(align(n) - n);
        }
        out.flush();
        size = out.written();
      }
      try {
        Files.move(part, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
      } catch (AtomicMoveNotSupportedException e) {
        Files.move(part, file, StandardCopyOption.REPLACE_EXISTING);
      }
      done = true;
      return size;
    } catch (IOException e) {
      throw new IOException("cannot write " + file + ": " + describe(e), e);
    } finally {
      if (!done) {
        try {
          Files.deleteIfExists(part);
        } catch (IOException ignored) {
          // the original error matters more
        }
      }
    }
  }

  /** A one-line reason for {@code e}, which for file errors is often just a path. */
  public static String describe(IOException e) {
    if (e instanceof AccessDeniedException a) {
      return "permission denied (" + a.getFile() + ")";
    }
    if (e instanceof NoSuchFileException n) {
      return "no such file or directory (" + n.getFile() + ")";
    }
    if (e instanceof FileSystemException f) {
      return (f.getReason() == null ? e.getClass().getSimpleName() : f.getReason())
          + " ("
          + f.getFile()
          + ")";
    }
    return e.getMessage() == null ? e.toString() : e.getMessage();
  }

  /** Magic, version, counts, key/values and tensor infos (without the trailing padding). */
  byte[] header() {
    Le b = new Le();
    b.u32(MAGIC);
    b.u32(VERSION);
    b.u64(tensors.size());
    b.u64(kv.size());
    for (var e : kv.entrySet()) {
      b.string(e.getKey());
      b.out.writeBytes(e.getValue());
    }
    long offset = 0;
    for (Tensor t : tensors) {
      b.string(t.name());
      b.u32(t.ne().length);
      for (long d : t.ne()) {
        b.u64(d);
      }
      b.u32(t.type().id);
      b.u64(offset);
      offset += align(t.bytes());
    }
    return b.out.toByteArray();
  }

  /** A growable little-endian byte buffer. */
  private static final class Le {
    final ByteArrayOutputStream out = new ByteArrayOutputStream();

    void u32(int v) {
      out.write(v);
      out.write(v >>> 8);
      out.write(v >>> 16);
      out.write(v >>> 24);
    }

    void u64(long v) {
      u32((int) v);
      u32((int) (v >>> 32));
    }

    void string(String s) {
      byte[] utf8 = s.getBytes(StandardCharsets.UTF_8);
      u64(utf8.length);
      out.writeBytes(utf8);
    }
  }
}
