package dev.lorastream.engine.ops.cuda;

import static dev.lorastream.engine.ops.cuda.CudaException.check;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUstream;
import jcuda.driver.JCudaDriver;

/**
 * Pinned host memory used as a ring for the asynchronous copies of one stream (async copies from Java heap
 * arrays are not safe in JCuda), optionally mirrored by a device region of the same size for small per-step
 * metadata (token ids, positions, segments, block tables). When the ring wraps it first waits for its stream,
 * so a region is never rewritten while an earlier copy may still read it (once per ring's worth of traffic).
 *
 * <p>Confined to the stream's issuing thread(s) under the owner's lock; not thread-safe by itself.
 */
final class StagingRing implements AutoCloseable {
  private final Pointer host;
  private final MemorySegment seg; // [capacity] bytes of pinned memory, little-endian views
  private final CUdeviceptr mirror; // [capacity] bytes on the device, or null
  private final CUstream stream;
  private final long capacity;
  private long head;

  StagingRing(long capacity, CUdeviceptr mirror, CUstream stream) {
    this.capacity = capacity;
    this.mirror = mirror;
    this.stream = stream;
    this.host = new Pointer();
    check("cuMemAllocHost(" + capacity + " bytes)", JCudaDriver.cuMemAllocHost(host, capacity));
    this.seg = MemorySegment.ofBuffer(host.getByteBuffer(0, capacity).order(ByteOrder.LITTLE_ENDIAN));
  }

  long capacity() {
    return capacity;
  }

  /** Reserves {@code bytes} (256-aligned), waiting for the stream first if the ring wraps. */
  long reserve(long bytes) {
    long size = DevicePool.align(Math.max(1, bytes));
    if (size > capacity) {
      throw new IllegalArgumentException("staging: " + bytes + " bytes do not fit the " + capacity + "-byte ring");
    }
    if (head + size > capacity) {
      check("cuStreamSynchronize(staging ring wrap)", JCudaDriver.cuStreamSynchronize(stream));
      head = 0;
    }
    long off = head;
    head += size;
    return off;
  }

  /** The pinned bytes of a reservation, for the caller to fill or read. */
  MemorySegment slice(long off, long bytes) {
    return seg.asSlice(off, bytes);
  }

  /** Enqueues host[off, off+bytes) → dst on the stream. */
  void toDevice(long off, long bytes, CUdeviceptr dst) {
    check("cuMemcpyHtoDAsync(" + bytes + " bytes)",
        JCudaDriver.cuMemcpyHtoDAsync(dst, host.withByteOffset(off), bytes, stream));
  }

  /** Enqueues src → host[off, off+bytes) on the stream (read after a synchronize). */
  void fromDevice(CUdeviceptr src, long off, long bytes) {
    check("cuMemcpyDtoHAsync(" + bytes + " bytes)",
        JCudaDriver.cuMemcpyDtoHAsync(host.withByteOffset(off), src, bytes, stream));
  }

  /** Copies an int array to the device mirror and returns its device address (valid in stream order). */
  CUdeviceptr ints(int[] a) {
    long bytes = 4L * a.length;
    long off = reserve(bytes);
    MemorySegment.copy(a, 0, seg, java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN),
        off, a.length);
    CUdeviceptr dst = mirror.withByteOffset(off);
    if (bytes > 0) {
      toDevice(off, bytes, dst);
    }
    return dst;
  }

  /** Copies a float array to the device mirror and returns its device address. */
  CUdeviceptr floats(float[] a) {
    long bytes = 4L * a.length;
    long off = reserve(bytes);
    MemorySegment.copy(a, 0, seg, java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN),
        off, a.length);
    CUdeviceptr dst = mirror.withByteOffset(off);
    if (bytes > 0) {
      toDevice(off, bytes, dst);
    }
    return dst;
  }

  @Override
  public void close() {
    JCudaDriver.cuMemFreeHost(host);
  }
}
