package dev.lorastream.engine.ops.cuda;

import dev.lorastream.engine.ops.cuda.DeviceApi.DevPtr;
import dev.lorastream.engine.tensor.DType;
import java.lang.ref.Cleaner;

/**
 * The device resources of one {@link CudaOps}: one pool allocation made at start and sub-allocated
 * by a {@link DevicePool} (activations, weights, KV pages and adapter slots all come from it); the
 * compute stream, on which every kernel and copy of a step runs in order; the side stream for
 * adapter uploads ({@code writeSlot}), joined to the compute stream by events; and a pinned staging
 * ring per stream.
 *
 * <p>Pool size: {@code lorastream.cuda.pool-bytes} if set, else {@code
 * lorastream.cuda.pool-fraction} (default 0.90) of the device memory free at start. Ring sizes:
 * {@code lorastream.cuda.staging-mb} (default 64 each).
 */
final class CudaContext implements AutoCloseable {
  private static final Cleaner CLEANER = Cleaner.create();

  final DeviceApi api;
  final DeviceApi.Stream compute;
  final DeviceApi.Stream side;
  final DevicePool pool;
  final StagingRing computeRing;
  final StagingRing sideRing;
  private final DeviceApi.Event computeMark;
  private final DeviceApi.Event sideMark;
  private boolean sidePending;
  private volatile boolean closed;

  /**
   * @param explicitPoolBytes the pool size, or ≤ 0 for {@code lorastream.cuda.pool-bytes} / the
   *     fraction rule
   */
  CudaContext(DeviceApi api, long explicitPoolBytes) {
    this.api = api;
    api.bind();
    long free = api.freeBytes();
    long bytes =
        poolBytes(
            free,
            explicitPoolBytes > 0
                ? explicitPoolBytes
                : Long.getLong("lorastream.cuda.pool-bytes", -1),
            Double.parseDouble(System.getProperty("lorastream.cuda.pool-fraction", "0.90")));
    api.allocatePool(bytes);
    this.pool = new DevicePool(bytes);
    this.compute = api.createStream("compute");
    this.side = api.createStream("side");
    this.computeMark = api.createEvent();
    this.sideMark = api.createEvent();
    long ring = Long.getLong("lorastream.cuda.staging-mb", 64) << 20;
    this.computeRing = new StagingRing(api, ring, ptr(pool.allocate(ring)), compute);
    this.sideRing = new StagingRing(api, ring, null, side);
  }

  /** The pool size rule: explicit bytes, else a fraction of free memory; 256-aligned. Pure. */
  static long poolBytes(long freeBytes, long explicitBytes, double fraction) {
    if (explicitBytes > 0) {
      return DevicePool.align(explicitBytes);
    }
    if (!(fraction > 0 && fraction <= 1)) {
      throw new IllegalArgumentException(
          "lorastream.cuda.pool-fraction = " + fraction + ": must be in (0, 1]");
    }
    return (long) (freeBytes * fraction) / DevicePool.ALIGN * DevicePool.ALIGN;
  }

  /** The device address of a pool offset. */
  DevPtr ptr(long offset) {
    return new DevPtr(offset);
  }

  DevPtr ptr(CudaTensor t) {
    return new DevPtr(t.byteOffset());
  }

  /** A zero-filled tensor from the pool, returned to it when unreachable. */
  CudaTensor allocate(Object owner, DType dtype, int[] shape) {
    long bytes = dev.lorastream.engine.tensor.HostTensor.numel(shape) * dtype.bytes();
    long off = pool.allocate(bytes);
    CudaTensor.Block block = new CudaTensor.Block(owner, off, Math.max(bytes, 1));
    CudaTensor t = new CudaTensor(dtype, shape, block, off);
    DevicePool p = pool;
    CLEANER.register(
        block,
        () -> {
          if (!closed) {
            p.free(off);
          }
        });
    joinSide(); // memory freed after a side-stream write must not be reused before that write ends
    if (bytes > 0) {
      api.memsetZero(ptr(off), bytes, compute);
    }
    return t;
  }

  /**
   * The side stream waits for everything issued so far on the compute stream (write-after-read).
   */
  void sideAfterCompute() {
    api.record(computeMark, compute);
    api.waitFor(side, computeMark);
  }

  /**
   * Records the end of a side-stream write into {@code block}; the next kernel reading it waits for
   * it.
   */
  void markSideWrite(CudaTensor.Block block) {
    DeviceApi.Event ev = api.createEvent();
    api.record(ev, side);
    if (block.pendingWrite != null) {
      api.destroyEvent(block.pendingWrite);
    }
    block.pendingWrite = ev;
    sidePending = true;
  }

  /** The compute stream waits for pending side writes into these tensors (read-after-write). */
  void awaitWrites(CudaTensor... ts) {
    for (CudaTensor t : ts) {
      CudaTensor.Block b = t.block();
      if (b.pendingWrite != null) {
        api.waitFor(compute, b.pendingWrite);
        api.destroyEvent(b.pendingWrite);
        b.pendingWrite = null;
      }
    }
  }

  /** The compute stream waits for all side-stream work issued so far. */
  void joinSide() {
    if (sidePending) {
      api.record(sideMark, side);
      api.waitFor(compute, sideMark);
      sidePending = false;
    }
  }

  void sync(String after) {
    api.synchronize(compute, "compute, after " + after);
  }

  @Override
  public void close() {
    if (closed) {
      return;
    }
    api.bind();
    api.destroyStream(side); // waits for it first
    api.destroyStream(compute);
    closed = true;
    computeRing.close();
    sideRing.close();
    api.destroyEvent(computeMark);
    api.destroyEvent(sideMark);
    api.close();
  }
}
