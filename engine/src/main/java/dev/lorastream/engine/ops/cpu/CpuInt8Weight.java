package dev.lorastream.engine.ops.cpu;

import dev.lorastream.engine.ops.Tensor;
import dev.lorastream.engine.tensor.DType;
import java.lang.foreign.MemorySegment;

/**
 * A matmul weight {@code [out, in]} quantized to int8 per output row by the CPU backend's {@code
 * int8} weight option ({@link CpuOps.WeightFormat#INT8}): {@code w[o, i] ≈ scale[o] · q[o, i]},
 * {@code q} in [-127, 127], {@code scale[o] = max_i |w[o, i]| / 127}, and {@code qsum[o] = Σ_i q[o,
 * i]} (the kernel removes its activations' offset with it). Made by {@code ls_quantize_i8}; all
 * three live in native memory freed by the GC. Only {@link CpuOps#matmul} reads it.
 *
 * @param q {@code out · in} bytes, row-major
 * @param scale {@code out} F32
 * @param qsum {@code out} int32
 */
final class CpuInt8Weight extends Tensor {
  final MemorySegment q;
  final MemorySegment scale;
  final MemorySegment qsum;

  CpuInt8Weight(int out, int in, MemorySegment q, MemorySegment scale, MemorySegment qsum) {
    super(DType.I8, out, in);
    if (q.byteSize() != (long) out * in
        || scale.byteSize() != 4L * out
        || qsum.byteSize() != 4L * out) {
      throw new IllegalArgumentException(
          "CpuInt8Weight ["
              + out
              + ", "
              + in
              + "] needs "
              + (long) out * in
              + " + 8 · "
              + out
              + " bytes");
    }
    this.q = q;
    this.scale = scale;
    this.qsum = qsum;
  }

  /** The dequantized value of element {@code [o, i]} (tests). */
  float get(int o, int i) {
    return scale.getAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, o)
        * q.get(java.lang.foreign.ValueLayout.JAVA_BYTE, (long) o * dim(1) + i);
  }
}
