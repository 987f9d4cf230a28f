package dev.lorastream.engine.ops.cuda;

import dev.lorastream.engine.ops.cuda.LaunchGeometry.Launch;
import dev.lorastream.engine.tensor.DType;
import java.lang.foreign.MemorySegment;

/**
 * The device calls {@link CudaOps} makes, and nothing else: one pool allocation, pinned host
 * memory, two streams, events, copies, memset and kernel launches. Device memory is addressed by
 * byte offsets into the pool ({@link DevPtr}), so the backend never holds a raw device address.
 *
 * <p>{@link JCudaApi} is the product: JCuda's driver API on a real GPU. The kernel emulator used by
 * the tests (the engine's test sources, {@code kernels/src/test/emu}) implements the same calls on
 * the CPU, running the real kernel sources, so the backend's own code (argument order, geometry,
 * pool offsets, conversions) is tested on machines without a GPU. Implementations report failures
 * as {@link CudaException} naming the call.
 */
interface DeviceApi extends AutoCloseable {
  /**
   * A device address: a byte offset into the pool. A kernel's null pointer argument is Java {@code
   * null}.
   */
  record DevPtr(long offset) {
    DevPtr plus(long bytes) {
      return new DevPtr(offset + bytes);
    }
  }

  /** An ordered queue of device work. */
  interface Stream {}

  /** A point in a stream that another stream can wait for. */
  interface Event {}

  /** {@code cuda:<index>} or the emulator's name. */
  String name();

  /** Device, compute capability and driver, for the startup line. */
  String describe();

  /** Makes the device current on the calling thread. */
  void bind();

  /** Device memory free now, in bytes. */
  long freeBytes();

  /** Allocates the one pool all {@link DevPtr}s point into; called once. */
  void allocatePool(long bytes);

  /** Pinned host memory (little-endian access is the caller's), freed by {@link #freeHost}. */
  MemorySegment allocateHost(long bytes);

  void freeHost(MemorySegment host);

  Stream createStream(String what);

  void destroyStream(Stream s);

  Event createEvent();

  void destroyEvent(Event e);

  void record(Event e, Stream s);

  /** Work issued on {@code s} after this call waits for {@code e}. */
  void waitFor(Stream s, Event e);

  /**
   * Blocks until everything issued on {@code s} has finished; {@code after} names the work for a
   * failure.
   */
  void synchronize(Stream s, String after);

  /** {@code src} must lie in memory from {@link #allocateHost}. */
  void copyToDevice(MemorySegment src, DevPtr dst, long bytes, Stream s);

  /**
   * {@code dst} must lie in memory from {@link #allocateHost}; valid after {@link #synchronize}.
   */
  void copyToHost(DevPtr src, MemorySegment dst, long bytes, Stream s);

  void copyOnDevice(DevPtr src, DevPtr dst, long bytes, Stream s);

  void memsetZero(DevPtr dst, long bytes, Stream s);

  /**
   * Launches {@code kernel} for {@code dtype} with ABI-ordered arguments ({@link
   * CudaKernel#argKinds()}): {@link DevPtr} or null for {@code p}, {@link Integer} for {@code i},
   * {@link Long} for {@code l}, {@link Float} for {@code f}; checked by {@link
   * CudaKernels#checkArgs} before anything reaches the device.
   */
  void launch(CudaKernel kernel, DType dtype, Launch g, Stream s, Object... args);

  /** Frees the pool and the streams (after waiting for them). */
  @Override
  void close();
}
