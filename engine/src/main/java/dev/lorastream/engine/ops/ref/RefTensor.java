package dev.lorastream.engine.ops.ref;

import dev.lorastream.engine.ops.Tensor;
import dev.lorastream.engine.tensor.DType;
import java.util.Arrays;

/**
 * The reference backend's tensor: one Java float per element, row-major, holding exactly the values
 * the dtype can represent ({@link #set} rounds to F16 or BF16 to nearest even, so storing then
 * reading behaves like a tensor kept in that dtype). Deliberately plain and independent of the fast
 * backends' memory layouts. Not thread-safe.
 */
final class RefTensor extends Tensor {
  private final float[]
      values; // [numel(shape)] or more: a row view shares its parent's array from index 0

  private RefTensor(DType dtype, int[] shape, float[] values) {
    super(dtype, shape);
    this.values = values;
  }

  /** A zero-filled tensor. */
  static RefTensor zeros(DType dtype, int... shape) {
    long n = 1;
    for (int d : shape) {
      if (d < 0) {
        throw new IllegalArgumentException("negative dimension in shape " + Arrays.toString(shape));
      }
      n *= d;
    }
    if (n > Integer.MAX_VALUE) {
      throw new IllegalArgumentException(
          "the reference backend holds at most 2^31 - 1 elements, not "
              + n
              + " ("
              + dtype
              + Arrays.toString(shape)
              + ")");
    }
    return new RefTensor(dtype, shape, new float[(int) n]);
  }

  /**
   * The tensor as a {@code RefTensor}, or a failure naming the op and argument (another backend's
   * tensor).
   */
  static RefTensor of(Tensor t, String op, String arg) {
    if (t instanceof RefTensor r) {
      return r;
    }
    throw new IllegalArgumentException(
        op
            + ": "
            + arg
            + " is "
            + (t == null ? "null" : t.toString())
            + ", not a tensor of the reference backend");
  }

  /** The first elements as {@code shape} (checked by the caller), sharing the values. */
  RefTensor view(int[] shape) {
    return new RefTensor(dtype(), shape.clone(), values);
  }

  /** Rows {@code [0, n)} of the outermost dimension, sharing the values. */
  RefTensor rows(int n) {
    int[] shape = shape();
    if (shape.length == 0 || n < 0 || n > shape[0]) {
      throw new IllegalArgumentException(
          "rows: cannot take " + n + " rows of " + dtype() + Arrays.toString(shape));
    }
    shape[0] = n;
    return new RefTensor(dtype(), shape, values);
  }

  /** Element {@code i} (flat index). */
  float get(long i) {
    return values[Math.toIntExact(i)];
  }

  /** Sets element {@code i} to {@code v} rounded to this tensor's dtype. */
  void set(long i, float v) {
    values[Math.toIntExact(i)] = round(v, dtype());
  }

  /** {@code v} rounded to the nearest value of {@code dtype} (ties to even); NaN stays NaN. */
  static float round(float v, DType dtype) {
    return switch (dtype) {
      case F32 -> v;
      case F16 -> Float.float16ToFloat(Float.floatToFloat16(v));
      case BF16 -> {
        if (Float.isNaN(v)) {
          yield v;
        }
        int bits = Float.floatToRawIntBits(v);
        int lsb = (bits >>> 16) & 1; // of the kept half: ties go to the even one
        yield Float.intBitsToFloat((bits + 0x7FFF + lsb) & 0xFFFF_0000);
      }
      case I8 ->
          throw new IllegalArgumentException(
              "the reference backend has no I8 tensors (a CPU backend weight format)");
    };
  }
}
