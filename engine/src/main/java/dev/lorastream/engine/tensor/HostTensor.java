package dev.lorastream.engine.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/**
 * A tensor in host memory, usually a read-only view into a memory-mapped safetensors file.
 *
 * <p>Row-major, little-endian. Owns nothing: the arena that mapped {@code data} decides its
 * lifetime.
 *
 * @param name the tensor's name in its file (for error messages)
 * @param dtype element type
 * @param shape dimensions, outermost first
 * @param data exactly {@code numel * dtype.bytes()} bytes
 */
public record HostTensor(String name, DType dtype, int[] shape, MemorySegment data) {

  private static final ValueLayout.OfFloat F32_LE =
      ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN);
  private static final ValueLayout.OfShort I16_LE =
      ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN);
  private static final ValueLayout.OfLong I64_LE =
      ValueLayout.JAVA_LONG_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN);

  public HostTensor {
    if (dtype == DType.I8) {
      throw notFromFiles();
    }
    shape = shape.clone();
    long expected = numel(shape) * dtype.bytes();
    if (data.byteSize() != expected) {
      throw new IllegalArgumentException(
          "tensor '"
              + name
              + "' "
              + dtype
              + Arrays.toString(shape)
              + " needs "
              + expected
              + " bytes but has "
              + data.byteSize());
    }
  }

  /** Wraps a float array as an F32 tensor (copying it into a heap segment). */
  public static HostTensor ofFloats(String name, float[] values, int... shape) {
    MemorySegment seg = MemorySegment.ofArray(new byte[values.length * 4]);
    for (int i = 0; i < values.length; i++) {
      seg.setAtIndex(F32_LE, i, values[i]);
    }
    return new HostTensor(name, DType.F32, shape, seg);
  }

  public static long numel(int[] shape) {
    long n = 1;
    for (int d : shape) {
      n *= d;
    }
    return n;
  }

  public long numel() {
    return numel(shape);
  }

  /** Dimension {@code i}; negative counts from the end. */
  public int dim(int i) {
    return shape[i < 0 ? shape.length + i : i];
  }

  @Override
  public int[] shape() {
    return shape.clone();
  }

  /** Element {@code i} (flat index) decoded to float. */
  public float getFloat(long i) {
    return switch (dtype) {
      case F32 -> data.getAtIndex(F32_LE, i);
      case F16 -> Float.float16ToFloat(data.getAtIndex(I16_LE, i));
      case BF16 -> Float.intBitsToFloat(data.getAtIndex(I16_LE, i) << 16);
      case I8 -> throw notFromFiles();
    };
  }

  private static IllegalStateException notFromFiles() {
    return new IllegalStateException(
        "I8 is a backend's quantized weight format, never a host tensor's: its scales live beside it");
  }

  /** All elements decoded to a new float array (for small tensors and tests). */
  public float[] toFloatArray() {
    long n = numel();
    if (n > Integer.MAX_VALUE) {
      throw new IllegalStateException(
          "tensor '" + name + "' has " + n + " elements: too many for an array");
    }
    float[] out = new float[(int) n];
    decodeTo(out);
    return out;
  }

  /**
   * Decodes every element into {@code dst} (which must hold exactly {@link #numel()} floats) and
   * checks each one as it goes, in the same pass.
   *
   * @return the flat index of the first NaN or infinite element, or -1 when all are finite
   * @throws IllegalArgumentException when {@code dst} has the wrong length
   */
  public long decodeTo(float[] dst) {
    if (dst.length != numel()) {
      throw new IllegalArgumentException(
          "tensor '" + name + "' has " + numel() + " elements but dst holds " + dst.length);
    }
    int n = dst.length;
    // bulk copies rather than an element read per value: one access check per chunk, and loops
    // over plain arrays the JIT vectorises (this decode was most of an adapter's host load)
    if (dtype == DType.F32) {
      MemorySegment.copy(data, F32_LE, 0, dst, 0, n);
    } else {
      short[] raw = new short[Math.min(n, DECODE_CHUNK)];
      for (int off = 0; off < n; off += raw.length) {
        int len = Math.min(raw.length, n - off);
        MemorySegment.copy(data, I16_LE, (long) off * 2, raw, 0, len);
        if (dtype == DType.BF16) {
          for (int i = 0; i < len; i++) {
            dst[off + i] = Float.intBitsToFloat(raw[i] << 16);
          }
        } else {
          for (int i = 0; i < len; i++) {
            dst[off + i] = Float.float16ToFloat(raw[i]);
          }
        }
      }
    }
    for (int i = 0; i < n; i++) {
      if (!Float.isFinite(dst[i])) {
        return i;
      }
    }
    return -1;
  }

  private static final int DECODE_CHUNK = 1 << 14;

  /**
   * The flat index of the first NaN or infinite element, or -1 when all are finite. Reads the raw
   * encoding eight bytes at a time (an element is non-finite exactly when its exponent bits are all
   * ones, in F32, F16 and BF16 alike), so it costs about one read of the data.
   */
  public long firstNonFinite() {
    long n = numel();
    int perWord = 8 / dtype.bytes();
    long words = n / perWord;
    long exp; // the exponent mask repeated in every lane
    long high; // the top bit of every lane
    switch (dtype) {
      case F32 -> {
        exp = 0x7F800000_7F800000L;
        high = 0x80000000_80000000L;
      }
      case F16 -> {
        exp = 0x7C00_7C00_7C00_7C00L;
        high = 0x8000_8000_8000_8000L;
      }
      case BF16 -> {
        exp = 0x7F80_7F80_7F80_7F80L;
        high = 0x8000_8000_8000_8000L;
      }
      default -> throw new IllegalStateException(dtype.toString());
    }
    long low = high >>> (64 / perWord - 1); // the lowest bit of every lane
    // per lane: y = 0 exactly when the exponent is all ones; y's top bit is always clear, so
    // (y | high) - low borrows from no other lane and keeps the lane's top bit iff y != 0. Four
    // words are ANDed before one branch: a lane's top bit survives only if all four are finite.
    long w = 0;
    for (; w + 4 <= words; w += 4) {
      long off = w * 8;
      long y0 = (data.get(I64_LE, off) & exp) ^ exp;
      long y1 = (data.get(I64_LE, off + 8) & exp) ^ exp;
      long y2 = (data.get(I64_LE, off + 16) & exp) ^ exp;
      long y3 = (data.get(I64_LE, off + 24) & exp) ^ exp;
      long ok =
          ((y0 | high) - low) & ((y1 | high) - low) & ((y2 | high) - low) & ((y3 | high) - low);
      if ((ok & high) != high) {
        return firstNonFinite(w * perWord, n);
      }
    }
    for (; w < words; w++) {
      long y = (data.get(I64_LE, w * 8) & exp) ^ exp;
      if ((((y | high) - low) & high) != high) {
        return firstNonFinite(w * perWord, n);
      }
    }
    return firstNonFinite(words * perWord, n);
  }

  private long firstNonFinite(long from, long to) {
    for (long i = from; i < to; i++) {
      if (!Float.isFinite(getFloat(i))) {
        return i;
      }
    }
    return -1;
  }

  /** The multi-dimensional position of flat index {@code i}, outermost first. */
  public int[] position(long i) {
    int[] pos = new int[shape.length];
    for (int d = shape.length - 1; d >= 0; d--) {
      if (shape[d] > 0) {
        pos[d] = (int) (i % shape[d]);
        i /= shape[d];
      }
    }
    return pos;
  }

  @Override
  public String toString() {
    return name + " " + dtype + Arrays.toString(shape);
  }
}
