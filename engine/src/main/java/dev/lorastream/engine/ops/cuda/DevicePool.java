package dev.lorastream.engine.ops.cuda;

import java.util.Map;
import java.util.TreeMap;

/**
 * Byte-offset bookkeeping for the one device allocation a {@link CudaOps} makes at start: first-fit
 * over a free list kept sorted by offset, blocks rounded up to 256 bytes (so every tensor starts
 * 256-byte aligned), neighbours coalesced on free. Knows nothing of CUDA: offsets are added to the
 * base pointer by the caller.
 *
 * <p>Thread-safe (a {@link java.lang.ref.Cleaner} frees from its own thread).
 */
public final class DevicePool {
  /** Every block starts and ends on this many bytes. */
  public static final long ALIGN = 256;

  private final long capacity;
  private final TreeMap<Long, Long> free = new TreeMap<>(); // offset -> bytes
  private final TreeMap<Long, Long> used = new TreeMap<>(); // offset -> bytes
  private long usedBytes;
  private long peakBytes;

  public DevicePool(long capacity) {
    if (capacity < ALIGN) {
      throw new IllegalArgumentException(
          "device pool of " + capacity + " bytes is smaller than " + ALIGN);
    }
    this.capacity = capacity / ALIGN * ALIGN;
    free.put(0L, this.capacity);
  }

  static long align(long bytes) {
    return (bytes + ALIGN - 1) / ALIGN * ALIGN;
  }

  /**
   * Reserves {@code bytes} (at least one aligned block even for 0) and returns the offset.
   *
   * @throws IllegalStateException naming the request, the largest free block and the pool size
   */
  public synchronized long allocate(long bytes) {
    if (bytes < 0) {
      throw new IllegalArgumentException("device pool: negative request " + bytes);
    }
    long size = Math.max(ALIGN, align(bytes));
    for (Map.Entry<Long, Long> e : free.entrySet()) {
      if (e.getValue() >= size) {
        long off = e.getKey();
        free.remove(off);
        if (e.getValue() > size) {
          free.put(off + size, e.getValue() - size);
        }
        used.put(off, size);
        usedBytes += size;
        peakBytes = Math.max(peakBytes, usedBytes);
        return off;
      }
    }
    throw new IllegalStateException(
        "device pool exhausted: need "
            + size
            + " bytes, largest free block "
            + largestFree()
            + ", used "
            + usedBytes
            + " of "
            + capacity
            + " (raise lorastream.cuda.pool-bytes or lorastream.cuda.pool-fraction)");
  }

  /** Returns a block; freeing an offset that is not allocated throws. */
  public synchronized void free(long offset) {
    Long size = used.remove(offset);
    if (size == null) {
      throw new IllegalArgumentException("device pool: offset " + offset + " is not allocated");
    }
    usedBytes -= size;
    long start = offset;
    long len = size;
    Map.Entry<Long, Long> before = free.floorEntry(offset);
    if (before != null && before.getKey() + before.getValue() == offset) {
      start = before.getKey();
      len += before.getValue();
      free.remove(before.getKey());
    }
    Long afterLen = free.get(offset + size);
    if (afterLen != null) {
      free.remove(offset + size);
      len += afterLen;
    }
    free.put(start, len);
  }

  public long capacity() {
    return capacity;
  }

  public synchronized long usedBytes() {
    return usedBytes;
  }

  public synchronized long peakBytes() {
    return peakBytes;
  }

  public synchronized long largestFree() {
    long best = 0;
    for (long v : free.values()) {
      best = Math.max(best, v);
    }
    return best;
  }

  /** Number of free ranges (1 when everything has been returned). */
  public synchronized int freeRanges() {
    return free.size();
  }
}
