package dev.lorastream.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import jdk.incubator.vector.LongVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Memory bandwidth measured in this process (docs/benchmarks.md, "Physical floors"): a large native
 * copy and a large vectorised read, each split over {@code threads} threads, best of {@code tries}.
 *
 * @param bytes buffer size
 * @param threads threads that shared each pass
 * @param copyGBs (bytes read + bytes written) / time of a copy, 1e9 bytes per GB
 * @param readGBs bytes read / time of a read-only sum
 */
public record Bandwidth(long bytes, int threads, double copyGBs, double readGBs) {

  private static final VectorSpecies<Long> L = LongVector.SPECIES_PREFERRED;
  private static final ValueLayout.OfLong LONG_LE =
      ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

  /** Where read sums go, so that the JIT cannot drop the reads. */
  private static volatile long sink;

  /**
   * The best of the single-threaded and the all-threads measurement (the floor uses the faster).
   */
  public static Bandwidth measureBest(long bytes, int tries) {
    Bandwidth one = measure(bytes, 1, tries);
    int cores = Runtime.getRuntime().availableProcessors();
    if (cores == 1) {
      return one;
    }
    Bandwidth all = measure(bytes, cores, tries);
    return all.readGBs() >= one.readGBs() ? all : one;
  }

  public static Bandwidth measure(long bytes, int threads, int tries) {
    long size =
        Math.max(
            1 << 20, bytes / (threads * 64L) * threads * 64L); // whole 64-byte lines per thread
    ExecutorService pool = Executors.newFixedThreadPool(threads);
    try (Arena arena = Arena.ofShared()) {
      MemorySegment src = arena.allocate(size, 64);
      MemorySegment dst = arena.allocate(size, 64);
      src.fill((byte) 1); // fault every page in before timing
      dst.fill((byte) 2);
      long chunk = size / threads;
      double bestCopy = Double.MAX_VALUE;
      double bestRead = Double.MAX_VALUE;
      for (int t = 0; t < tries; t++) {
        long t0 = System.nanoTime();
        parallel(
            pool,
            threads,
            i -> {
              MemorySegment.copy(src, i * chunk, dst, i * chunk, chunk);
              return 0L;
            });
        bestCopy = Math.min(bestCopy, System.nanoTime() - t0);
        t0 = System.nanoTime();
        sink = parallel(pool, threads, i -> sum(src.asSlice(i * chunk, chunk)));
        bestRead = Math.min(bestRead, System.nanoTime() - t0);
      }
      return new Bandwidth(size, threads, 2.0 * size / bestCopy, size / bestRead);
    } finally {
      pool.shutdownNow();
    }
  }

  /** Σ of the segment's longs, four vector accumulators so the loop is bound by loads, not adds. */
  static long sum(MemorySegment s) {
    int lanes = L.length();
    long step = 4L * lanes * Long.BYTES;
    LongVector a0 = LongVector.zero(L);
    LongVector a1 = a0;
    LongVector a2 = a0;
    LongVector a3 = a0;
    long off = 0;
    long end = s.byteSize() - step;
    for (; off <= end; off += step) {
      a0 = a0.add(LongVector.fromMemorySegment(L, s, off, ByteOrder.LITTLE_ENDIAN));
      a1 =
          a1.add(
              LongVector.fromMemorySegment(L, s, off + (long) lanes * 8, ByteOrder.LITTLE_ENDIAN));
      a2 =
          a2.add(LongVector.fromMemorySegment(L, s, off + 2L * lanes * 8, ByteOrder.LITTLE_ENDIAN));
      a3 =
          a3.add(LongVector.fromMemorySegment(L, s, off + 3L * lanes * 8, ByteOrder.LITTLE_ENDIAN));
    }
    long total = a0.add(a1).add(a2).add(a3).reduceLanes(VectorOperators.ADD);
    for (; off + Long.BYTES <= s.byteSize(); off += Long.BYTES) {
      total += s.get(LONG_LE, off);
    }
    return total;
  }

  private interface Part {
    long run(long index) throws Exception;
  }

  private static long parallel(ExecutorService pool, int threads, Part part) {
    List<Future<Long>> fs = new ArrayList<>(threads);
    for (int i = 0; i < threads; i++) {
      long idx = i;
      fs.add(pool.submit(() -> part.run(idx)));
    }
    long acc = 0;
    try {
      for (Future<Long> f : fs) {
        acc += f.get();
      }
    } catch (Exception e) {
      throw new IllegalStateException("bandwidth measurement failed: " + e.getMessage(), e);
    }
    return acc;
  }
}
