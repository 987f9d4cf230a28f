package dev.lorastream.engine.ops.cuda;

import static dev.lorastream.engine.ops.cuda.CudaException.check;

import dev.lorastream.engine.ops.cuda.LaunchGeometry.Launch;
import dev.lorastream.engine.tensor.DType;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUevent;
import jcuda.driver.CUevent_flags;
import jcuda.driver.CUstream;
import jcuda.driver.CUstream_flags;
import jcuda.driver.JCudaDriver;

/**
 * {@link DeviceApi} on a real GPU through JCuda's driver API ({@code libcuda.so.1}): {@code
 * cuMemAlloc} once for the pool, {@code cuMemAllocHost} for staging, non-blocking streams,
 * timing-free events, async copies and {@code cuLaunchKernel} of the functions {@link CudaKernels}
 * loaded from the PTX.
 *
 * <p>Pinned host memory is handed out as {@link MemorySegment}s; a copy finds the pinned allocation
 * a segment lies in and passes JCuda that allocation's pointer plus the offset (JCuda cannot take a
 * segment). Confined to the owning {@link CudaOps}'s lock.
 */
final class JCudaApi implements DeviceApi {
  private record JStream(CUstream s) implements Stream {}

  private record JEvent(CUevent e) implements Event {}

  private record Pinned(Pointer ptr, MemorySegment seg) {}

  private final CudaDevice device;
  private final CUdeviceptr base = new CUdeviceptr();
  private final List<Pinned> pinned = new ArrayList<>();
  private boolean poolAllocated;

  JCudaApi(CudaDevice device) {
    this.device = device;
  }

  @Override
  public String name() {
    return "cuda:" + device.index;
  }

  @Override
  public String describe() {
    return device.describe();
  }

  @Override
  public void bind() {
    device.bind();
  }

  @Override
  public long freeBytes() {
    long[] free = new long[1];
    long[] total = new long[1];
    check("cuMemGetInfo", JCudaDriver.cuMemGetInfo(free, total));
    return free[0];
  }

  @Override
  public void allocatePool(long bytes) {
    if (poolAllocated) {
      throw new IllegalStateException("the device pool is allocated once");
    }
    check("cuMemAlloc(pool of " + bytes + " bytes)", JCudaDriver.cuMemAlloc(base, bytes));
    poolAllocated = true;
  }

  @Override
  public MemorySegment allocateHost(long bytes) {
    Pointer host = new Pointer();
    check("cuMemAllocHost(" + bytes + " bytes)", JCudaDriver.cuMemAllocHost(host, bytes));
    MemorySegment seg =
        MemorySegment.ofBuffer(host.getByteBuffer(0, bytes).order(ByteOrder.LITTLE_ENDIAN));
    pinned.add(new Pinned(host, seg));
    return seg;
  }

  @Override
  public void freeHost(MemorySegment host) {
    Pinned p = pinnedOf(host, 0);
    pinned.remove(p);
    JCudaDriver.cuMemFreeHost(p.ptr());
  }

  /**
   * The pinned pointer at {@code seg}'s start, checking that {@code bytes} lie inside one
   * allocation.
   */
  private Pointer hostPtr(MemorySegment seg, long bytes) {
    Pinned p = pinnedOf(seg, bytes);
    return p.ptr().withByteOffset(seg.address() - p.seg().address());
  }

  private Pinned pinnedOf(MemorySegment seg, long bytes) {
    for (Pinned p : pinned) {
      long off = seg.address() - p.seg().address();
      if (off >= 0 && off + bytes <= p.seg().byteSize()) {
        return p;
      }
    }
    throw new IllegalArgumentException(
        "host memory at 0x"
            + Long.toHexString(seg.address())
            + " ("
            + bytes
            + " bytes) is not pinned memory from allocateHost");
  }

  private CUdeviceptr dev(DevPtr p) {
    return base.withByteOffset(p.offset());
  }

  private static CUstream cu(Stream s) {
    return ((JStream) s).s();
  }

  private static CUevent cu(Event e) {
    return ((JEvent) e).e();
  }

  @Override
  public Stream createStream(String what) {
    CUstream s = new CUstream();
    check(
        "cuStreamCreate(" + what + ")",
        JCudaDriver.cuStreamCreate(s, CUstream_flags.CU_STREAM_NON_BLOCKING));
    return new JStream(s);
  }

  @Override
  public void destroyStream(Stream s) {
    JCudaDriver.cuStreamSynchronize(cu(s));
    JCudaDriver.cuStreamDestroy(cu(s));
  }

  @Override
  public Event createEvent() {
    CUevent e = new CUevent();
    check("cuEventCreate", JCudaDriver.cuEventCreate(e, CUevent_flags.CU_EVENT_DISABLE_TIMING));
    return new JEvent(e);
  }

  @Override
  public void destroyEvent(Event e) {
    JCudaDriver.cuEventDestroy(cu(e));
  }

  @Override
  public void record(Event e, Stream s) {
    check("cuEventRecord", JCudaDriver.cuEventRecord(cu(e), cu(s)));
  }

  @Override
  public void waitFor(Stream s, Event e) {
    check("cuStreamWaitEvent", JCudaDriver.cuStreamWaitEvent(cu(s), cu(e), 0));
  }

  @Override
  public void synchronize(Stream s, String after) {
    check("cuStreamSynchronize(after " + after + ")", JCudaDriver.cuStreamSynchronize(cu(s)));
  }

  @Override
  public void copyToDevice(MemorySegment src, DevPtr dst, long bytes, Stream s) {
    check(
        "cuMemcpyHtoDAsync(" + bytes + " bytes)",
        JCudaDriver.cuMemcpyHtoDAsync(dev(dst), hostPtr(src, bytes), bytes, cu(s)));
  }

  @Override
  public void copyToHost(DevPtr src, MemorySegment dst, long bytes, Stream s) {
    check(
        "cuMemcpyDtoHAsync(" + bytes + " bytes)",
        JCudaDriver.cuMemcpyDtoHAsync(hostPtr(dst, bytes), dev(src), bytes, cu(s)));
  }

  @Override
  public void copyOnDevice(DevPtr src, DevPtr dst, long bytes, Stream s) {
    check(
        "cuMemcpyDtoDAsync(" + bytes + " bytes)",
        JCudaDriver.cuMemcpyDtoDAsync(dev(dst), dev(src), bytes, cu(s)));
  }

  @Override
  public void memsetZero(DevPtr dst, long bytes, Stream s) {
    check(
        "cuMemsetD8Async(" + bytes + " bytes)",
        JCudaDriver.cuMemsetD8Async(dev(dst), (byte) 0, bytes, cu(s)));
  }

  @Override
  public void launch(CudaKernel kernel, DType dtype, Launch g, Stream s, Object... args) {
    device.kernels.launch(kernel, dtype, g, cu(s), base, args);
  }

  @Override
  public void close() {
    for (Pinned p : List.copyOf(pinned)) {
      JCudaDriver.cuMemFreeHost(p.ptr());
    }
    pinned.clear();
    if (poolAllocated) {
      JCudaDriver.cuMemFree(base);
      poolAllocated = false;
    }
  }
}
