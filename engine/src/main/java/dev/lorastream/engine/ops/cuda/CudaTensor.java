package dev.lorastream.engine.ops.cuda;

import dev.lorastream.engine.ops.OpChecks;
import dev.lorastream.engine.ops.Tensor;
import dev.lorastream.engine.tensor.DType;

/**
 * A tensor in the device pool of a {@link CudaOps}: row-major, {@code numel * dtype.bytes()} bytes
 * starting at {@link #byteOffset()} from the pool's base. Views ({@link #rows}, {@link #rowRange})
 * share their root {@link Block}; the block returns to the pool when no tensor refers to it any
 * more (a {@link java.lang.ref.Cleaner}), which is safe because every later user of the memory is
 * ordered after earlier ones on the compute stream.
 *
 * <p>Holds no device state besides an optional pending-write event, so shapes and checks work
 * without a GPU. Not thread-safe.
 */
public final class CudaTensor extends Tensor {
  private final Block block;
  private final long byteOffset;

  /**
   * One pool allocation.
   *
   * @param owner the backend that made it (tensors are only passed back to it)
   */
  static final class Block {
    final Object owner;
    final long offset;
    final long bytes;

    /**
     * Recorded on the side stream by the last {@code writeSlot} into this block; the compute stream
     * waits.
     */
    DeviceApi.Event pendingWrite;

    Block(Object owner, long offset, long bytes) {
      this.owner = owner;
      this.offset = offset;
      this.bytes = bytes;
    }
  }

  CudaTensor(DType dtype, int[] shape, Block block, long byteOffset) {
    super(dtype, shape);
    this.block = block;
    this.byteOffset = byteOffset;
    if (byteOffset + byteSize() > block.offset + block.bytes) {
      throw new IllegalArgumentException(
          "tensor "
              + dtype
              + java.util.Arrays.toString(shape)
              + " at offset "
              + byteOffset
              + " overruns its block "
              + block.offset
              + "+"
              + block.bytes);
    }
  }

  /**
   * The tensor as {@code CudaTensor}, or a failure naming the op and argument (another backend's
   * tensor).
   */
  static CudaTensor of(Tensor t, String op, String arg) {
    if (t instanceof CudaTensor c) {
      return c;
    }
    throw new IllegalArgumentException(
        op
            + ": "
            + arg
            + " is "
            + (t == null ? "null" : t.getClass().getSimpleName() + " " + OpChecks.shape(t))
            + ", not a tensor of the cuda backend");
  }

  Block block() {
    return block;
  }

  /** Bytes from the pool's base to element 0. */
  public long byteOffset() {
    return byteOffset;
  }

  public long byteSize() {
    return numel() * dtype().bytes();
  }

  /** Bytes of one row of the outermost dimension. */
  long rowBytes() {
    return numel() / dim(0) * dtype().bytes();
  }

  /** Rows {@code [0, n)}: a view sharing this memory. */
  CudaTensor rows(int n) {
    return rowRange(0, n);
  }

  /** Rows {@code [from, from + n)} of the outermost dimension: a view sharing this memory. */
  CudaTensor rowRange(int from, int n) {
    if (from < 0 || n < 0 || from + n > dim(0)) {
      throw new IllegalArgumentException(
          "rows: ["
              + from
              + ", "
              + (from + n)
              + ") is outside "
              + OpChecks.shape(this)
              + " (dim 0 = "
              + dim(0)
              + ")");
    }
    int[] s = shape();
    s[0] = n;
    return new CudaTensor(dtype(), s, block, byteOffset + from * rowBytes());
  }
}
