package dev.lorastream.engine.ops.cuda;

import static dev.lorastream.engine.ops.cuda.CudaException.check;

import dev.lorastream.engine.tensor.DType;
import java.lang.ref.Cleaner;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUevent;
import jcuda.driver.CUevent_flags;
import jcuda.driver.CUstream;
import jcuda.driver.CUstream_flags;
import jcuda.driver.JCudaDriver;

/**
 * The device resources of one {@link CudaOps}: one pool allocation made at start and sub-allocated by a
 * {@link DevicePool} (activations, weights, KV pages and adapter slots all come from it); the compute stream,
 * on which every kernel and copy of a step runs in order; the side stream for adapter uploads ({@code
 * writeSlot}), joined to the compute stream by events; and a pinned staging ring per stream.
 *
 * <p>Pool size: {@code lorastream.cuda.pool-bytes} if set, else {@code lorastream.cuda.pool-fraction} (default
 * 0.90) of the device memory free at start. Ring sizes: {@code lorastream.cuda.staging-mb} (default 64 each).
 */
final class CudaContext implements AutoCloseable {
  private static final Cleaner CLEANER = Cleaner.create();

  final CudaDevice device;
  final CUstream compute = new CUstream();
  final CUstream side = new CUstream();
  final DevicePool pool;
  final StagingRing computeRing;
  final StagingRing sideRing;
  private final CUdeviceptr base = new CUdeviceptr();
  private final CUevent computeMark = new CUevent();
  private final CUevent sideMark = new CUevent();
  private boolean sidePending;
  private volatile boolean closed;

  /**
   * @param explicitPoolBytes the pool size, or ≤ 0 for {@code lorastream.cuda.pool-bytes} / the fraction rule
   */
  CudaContext(CudaDevice device, long explicitPoolBytes) {
    this.device = device;
    device.bind();
    long[] free = new long[1];
    long[] total = new long[1];
    check("cuMemGetInfo", JCudaDriver.cuMemGetInfo(free, total));
    long bytes = poolBytes(free[0], explicitPoolBytes > 0 ? explicitPoolBytes : Long.getLong("lorastream.cuda.pool-bytes", -1),
        Double.parseDouble(System.getProperty("lorastream.cuda.pool-fraction", "0.90")));
    check("cuMemAlloc(pool of " + bytes + " bytes, " + free[0] + " free)", JCudaDriver.cuMemAlloc(base, bytes));
    this.pool = new DevicePool(bytes);
    check("cuStreamCreate(compute)", JCudaDriver.cuStreamCreate(compute, CUstream_flags.CU_STREAM_NON_BLOCKING));
    check("cuStreamCreate(side)", JCudaDriver.cuStreamCreate(side, CUstream_flags.CU_STREAM_NON_BLOCKING));
    check("cuEventCreate", JCudaDriver.cuEventCreate(computeMark, CUevent_flags.CU_EVENT_DISABLE_TIMING));
    check("cuEventCreate", JCudaDriver.cuEventCreate(sideMark, CUevent_flags.CU_EVENT_DISABLE_TIMING));
    long ring = Long.getLong("lorastream.cuda.staging-mb", 64) << 20;
    this.computeRing = new StagingRing(ring, ptr(pool.allocate(ring)), compute);
    this.sideRing = new StagingRing(ring, null, side);
  }

  /** The pool size rule: explicit bytes, else a fraction of free memory; 256-aligned. Pure. */
  static long poolBytes(long freeBytes, long explicitBytes, double fraction) {
    if (explicitBytes > 0) {
      return DevicePool.align(explicitBytes);
    }
    if (!(fraction > 0 && fraction <= 1)) {
      throw new IllegalArgumentException("lorastream.cuda.pool-fraction = " + fraction + ": must be in (0, 1]");
    }
    return (long) (freeBytes * fraction) / DevicePool.ALIGN * DevicePool.ALIGN;
  }

  /** The device address of a pool offset. */
  CUdeviceptr ptr(long offset) {
    return base.withByteOffset(offset);
  }

  CUdeviceptr ptr(CudaTensor t) {
    return base.withByteOffset(t.byteOffset());
  }

  /** A zero-filled tensor from the pool, returned to it when unreachable. */
  CudaTensor allocate(Object owner, DType dtype, int[] shape) {
    long bytes = dev.lorastream.engine.tensor.HostTensor.numel(shape) * dtype.bytes();
    long off = pool.allocate(bytes);
    CudaTensor.Block block = new CudaTensor.Block(owner, off, Math.max(bytes, 1));
    CudaTensor t = new CudaTensor(dtype, shape, block, off);
    DevicePool p = pool;
    CLEANER.register(block, () -> {
      if (!closed) {
        p.free(off);
      }
    });
    joinSide(); // memory freed after a side-stream write must not be reused before that write ends
    if (bytes > 0) {
      check("cuMemsetD8Async(" + bytes + " bytes)", JCudaDriver.cuMemsetD8Async(ptr(off), (byte) 0, bytes, compute));
    }
    return t;
  }

  /** The side stream waits for everything issued so far on the compute stream (write-after-read). */
  void sideAfterCompute() {
    check("cuEventRecord(compute)", JCudaDriver.cuEventRecord(computeMark, compute));
    check("cuStreamWaitEvent(side)", JCudaDriver.cuStreamWaitEvent(side, computeMark, 0));
  }

  /** Records the end of a side-stream write into {@code block}; the next kernel reading it waits for it. */
  void markSideWrite(CudaTensor.Block block) {
    CUevent ev = new CUevent();
    check("cuEventCreate", JCudaDriver.cuEventCreate(ev, CUevent_flags.CU_EVENT_DISABLE_TIMING));
    check("cuEventRecord(side)", JCudaDriver.cuEventRecord(ev, side));
    if (block.pendingWrite != null) {
      JCudaDriver.cuEventDestroy(block.pendingWrite);
    }
    block.pendingWrite = ev;
    sidePending = true;
  }

  /** The compute stream waits for pending side writes into these tensors (read-after-write). */
  void awaitWrites(CudaTensor... ts) {
    for (CudaTensor t : ts) {
      CudaTensor.Block b = t.block();
      if (b.pendingWrite != null) {
        check("cuStreamWaitEvent(compute)", JCudaDriver.cuStreamWaitEvent(compute, b.pendingWrite, 0));
        JCudaDriver.cuEventDestroy(b.pendingWrite);
        b.pendingWrite = null;
      }
    }
  }

  /** The compute stream waits for all side-stream work issued so far. */
  void joinSide() {
    if (sidePending) {
      check("cuEventRecord(side)", JCudaDriver.cuEventRecord(sideMark, side));
      check("cuStreamWaitEvent(compute)", JCudaDriver.cuStreamWaitEvent(compute, sideMark, 0));
      sidePending = false;
    }
  }

  void sync(String after) {
    check("cuStreamSynchronize(compute, after " + after + ")", JCudaDriver.cuStreamSynchronize(compute));
  }

  @Override
  public void close() {
    if (closed) {
      return;
    }
    device.bind();
    JCudaDriver.cuStreamSynchronize(side);
    JCudaDriver.cuStreamSynchronize(compute);
    closed = true;
    computeRing.close();
    sideRing.close();
    JCudaDriver.cuEventDestroy(computeMark);
    JCudaDriver.cuEventDestroy(sideMark);
    JCudaDriver.cuStreamDestroy(compute);
    JCudaDriver.cuStreamDestroy(side);
    JCudaDriver.cuMemFree(base);
  }
}
