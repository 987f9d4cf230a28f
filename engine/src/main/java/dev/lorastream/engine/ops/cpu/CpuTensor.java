package dev.lorastream.engine.ops.cpu;

import dev.lorastream.engine.ops.Tensor;
import dev.lorastream.engine.tensor.DType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * A tensor in host memory: a little-endian {@link MemorySegment} of exactly {@code numel *
 * dtype.bytes()} bytes, row-major.
 *
 * <p>Activations are zero-filled native memory owned by the GC ({@link Arena#ofAuto()}); weights
 * may alias a read-only memory-mapped segment, in which case writes throw. Element accessors decode
 * F32, F16 and BF16 (for control code and small tensors; hot paths read {@link #segment()}
 * directly). Not thread-safe.
 */
public final class CpuTensor extends Tensor {

  static final ValueLayout.OfFloat F32_LE =
      ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  static final ValueLayout.OfShort I16_LE =
      ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

  private final MemorySegment data;

  /** Wraps {@code data} (not copied) as a tensor of the given dtype and shape. */
  public CpuTensor(DType dtype, int[] shape, MemorySegment data) {
    super(dtype, shape);
    if (dtype == DType.I8) {
      throw new IllegalArgumentException(
          "CpuTensor holds F32, F16 or BF16; an I8 weight is a CpuInt8Weight");
    }
    long expected = numel() * dtype.bytes();
    if (data.byteSize() != expected) {
      throw new IllegalArgumentException(
          "CpuTensor "
              + dtype
              + Arrays.toString(shape)
              + " needs "
              + expected
              + " bytes but has "
              + data.byteSize());
    }
    this.data = data;
  }

  /** A zero-filled tensor in 64-byte aligned native memory freed by the GC. */
  public static CpuTensor zeros(DType dtype, int... shape) {
    for (int d : shape) {
      if (d < 0) {
        throw new IllegalArgumentException("negative dimension in shape " + Arrays.toString(shape));
      }
    }
    long bytes = Math.max(1, numel(shape) * dtype.bytes());
    MemorySegment seg = Arena.ofAuto().allocate(bytes, 64);
    return new CpuTensor(dtype, shape, seg.asSlice(0, numel(shape) * dtype.bytes()));
  }

  /**
   * The tensor as a {@code CpuTensor}, or an {@link IllegalArgumentException} naming the op and
   * argument when it was made by another backend.
   */
  public static CpuTensor of(Tensor t, String op, String arg) {
    if (t instanceof CpuTensor c) {
      return c;
    }
    throw new IllegalArgumentException(
        op + ": " + arg + " is " + (t == null ? "null" : t.toString()) + ", not a CPU tensor");
  }

  /** Rows {@code [0, n)} of the outermost dimension, sharing memory. */
  public CpuTensor rows(int n) {
    int[] shape = shape();
    if (shape.length == 0 || n < 0 || n > shape[0]) {
      throw new IllegalArgumentException(
          "rows: cannot take " + n + " rows of " + dtype() + Arrays.toString(shape));
    }
    long rowBytes = shape[0] == 0 ? 0 : data.byteSize() / shape[0];
    shape[0] = n;
    return new CpuTensor(dtype(), shape, data.asSlice(0, rowBytes * n));
  }

  /** The raw little-endian bytes. */
  public MemorySegment segment() {
    return data;
  }

  /** Element {@code i} (flat index) decoded to float. */
  public float get(long i) {
    return switch (dtype()) {
      case F32 -> data.getAtIndex(F32_LE, i);
      case F16 -> Float.float16ToFloat(data.getAtIndex(I16_LE, i));
      case BF16 -> Float.intBitsToFloat(data.getAtIndex(I16_LE, i) << 16);
      case I8 -> throw new IllegalStateException("unreachable: the constructor refuses I8");
    };
  }

  /** Sets element {@code i}, rounding to nearest even for F16 and BF16. */
  public void set(long i, float v) {
    switch (dtype()) {
      case F32 -> data.setAtIndex(F32_LE, i, v);
      case F16 -> data.setAtIndex(I16_LE, i, Float.floatToFloat16(v));
      case BF16 -> data.setAtIndex(I16_LE, i, toBf16(v));
      case I8 -> throw new IllegalStateException("unreachable: the constructor refuses I8");
    }
  }

  /** All elements decoded to a new array (tests and small tensors). */
  public float[] toFloatArray() {
    float[] out = new float[Math.toIntExact(numel())];
    for (int i = 0; i < out.length; i++) {
      out[i] = get(i);
    }
    return out;
  }

  /** Rounds a float to bfloat16 bits, nearest-even; NaN stays a (quiet) NaN. */
  public static short toBf16(float v) {
    int bits = Float.floatToRawIntBits(v);
    if (Float.isNaN(v)) {
      return (short) ((bits >>> 16) | 0x40);
    }
    int rounding = 0x7FFF + ((bits >>> 16) & 1);
    return (short) ((bits + rounding) >>> 16);
  }

  private static long numel(int[] shape) {
    long n = 1;
    for (int d : shape) {
      n *= d;
    }
    return n;
  }
}
