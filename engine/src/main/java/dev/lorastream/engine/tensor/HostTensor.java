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

  public HostTensor {
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
    };
  }

  /** All elements decoded to a new float array (for small tensors and tests). */
  public float[] toFloatArray() {
    long n = numel();
    if (n > Integer.MAX_VALUE) {
      throw new IllegalStateException(
          "tensor '" + name + "' has " + n + " elements: too many for an array");
    }
    float[] out = new float[(int) n];
    for (int i = 0; i < out.length; i++) {
      out[i] = getFloat(i);
    }
    return out;
  }

  @Override
  public String toString() {
    return name + " " + dtype + Arrays.toString(shape);
  }
}
