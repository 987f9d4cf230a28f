package dev.lorastream.engine.ops.cuda;

import dev.lorastream.engine.ops.cuda.DeviceApi.DevPtr;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Pinned host memory used as a ring for the asynchronous copies of one stream (async copies from
 * Java heap arrays are not safe), optionally mirrored by a device region of the same size for small
 * per-step metadata (token ids, positions, segments, block tables). When the ring wraps it first
 * waits for its stream, so a region is never rewritten while an earlier copy may still read it
 * (once per ring's worth of traffic).
 *
 * <p>Confined to the stream's issuing thread(s) under the owner's lock; not thread-safe by itself.
 */
final class StagingRing implements AutoCloseable {
  private final DeviceApi api;
  private final MemorySegment seg; // [capacity] bytes of pinned memory, little-endian views
  private final DevPtr mirror; // [capacity] bytes on the device, or null
  private final DeviceApi.Stream stream;
  private final long capacity;
  private long head;

  StagingRing(DeviceApi api, long capacity, DevPtr mirror, DeviceApi.Stream stream) {
    this.api = api;
    this.capacity = capacity;
    this.mirror = mirror;
    this.stream = stream;
    this.seg = api.allocateHost(capacity);
  }

  long capacity() {
    return capacity;
  }

  /** Reserves {@code bytes} (256-aligned), waiting for the stream first if the ring wraps. */
  long reserve(long bytes) {
    long size = DevicePool.align(Math.max(1, bytes));
    if (size > capacity) {
      throw new IllegalArgumentException(
          "staging: " + bytes + " bytes do not fit the " + capacity + "-byte ring");
    }
    if (head + size > capacity) {
      api.synchronize(stream, "staging ring wrap");
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
  void toDevice(long off, long bytes, DevPtr dst) {
    api.copyToDevice(seg.asSlice(off, bytes), dst, bytes, stream);
  }

  /** Enqueues src → host[off, off+bytes) on the stream (read after a synchronize). */
  void fromDevice(DevPtr src, long off, long bytes) {
    api.copyToHost(src, seg.asSlice(off, bytes), bytes, stream);
  }

  /**
   * Copies an int array to the device mirror and returns its device address (valid in stream
   * order).
   */
  DevPtr ints(int[] a) {
    return mirrored(a, ValueLayout.JAVA_INT_UNALIGNED, a.length);
  }

  /** Copies a float array to the device mirror and returns its device address. */
  DevPtr floats(float[] a) {
    return mirrored(a, ValueLayout.JAVA_FLOAT_UNALIGNED, a.length);
  }

  /**
   * {@code n} elements of a Java array, little-endian, through the ring to the same offset of the
   * mirror.
   */
  private DevPtr mirrored(Object array, ValueLayout element, int n) {
    long bytes = element.byteSize() * n;
    long off = reserve(bytes);
    MemorySegment.copy(array, 0, seg, element.withOrder(ByteOrder.LITTLE_ENDIAN), off, n);
    DevPtr dst = mirror.plus(off);
    if (bytes > 0) {
      toDevice(off, bytes, dst);
    }
    return dst;
  }

  @Override
  public void close() {
    api.freeHost(seg);
  }
}
