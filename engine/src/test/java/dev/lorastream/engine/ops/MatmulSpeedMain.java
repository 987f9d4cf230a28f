package dev.lorastream.engine.ops;

import dev.lorastream.engine.ops.cpu.CpuOps;
import dev.lorastream.engine.ops.cpu.CpuTensor;
import dev.lorastream.engine.tensor.DType;
import dev.lorastream.engine.tensor.HostTensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Throughput check of {@code CpuOps.matmul} (not a test): w [4096, 4096] in BF16 and F32 at T = 1,
 * 8, 32, printing weight GB/s and GFLOP/s (best of the timed runs), plus a memcpy line for the
 * machine's bandwidth.
 *
 * <p>Run with the test classpath: {@code java --add-modules jdk.incubator.vector -cp
 * engine/target/classes:engine/target/test-classes dev.lorastream.engine.ops.MatmulSpeedMain [n]
 * [T...]}.
 */
public final class MatmulSpeedMain {
  private MatmulSpeedMain() {}

  public static void main(String[] args) {
    int n = args.length > 0 ? Integer.parseInt(args[0]) : 4096;
    int[] tokenCounts =
        args.length > 1
            ? Arrays.stream(args, 1, args.length).mapToInt(Integer::parseInt).toArray()
            : new int[] {1, 8, 32};
    System.out.printf(
        "threads=%d vector=%s%n",
        Integer.getInteger("lorastream.cpu.threads", Runtime.getRuntime().availableProcessors()),
        jdk.incubator.vector.FloatVector.SPECIES_PREFERRED);
    memcpy(256 << 20);
    try (CpuOps ops = new CpuOps()) {
      for (String name : System.getProperty("speed.dtypes", "BF16,F32").split(",")) {
        DType dtype = DType.parse(name);
        HostTensor host = randomWeights(dtype, n, n);
        // Hot: one matrix, which stays in this VM's large L3. Cold: calls cycle over copies
        // totalling
        // more than 1 GiB, so every call streams its weights from memory as a real model does.
        boolean measureCold = Boolean.parseBoolean(System.getProperty("speed.cold", "true"));
        int copies =
            measureCold
                ? (int) Math.max(1, Math.ceil((1L << 30) / (double) host.data().byteSize()))
                : 1;
        Tensor[] cold = new Tensor[copies];
        for (int i = 0; i < copies; i++) {
          cold[i] = ops.upload(host); // native memory: aliased, so copy it first
          if (i > 0) {
            MemorySegment copy =
                Arena.ofAuto().allocate(host.data().byteSize(), 64).copyFrom(host.data());
            cold[i] = ops.upload(new HostTensor("w" + i, dtype, host.shape(), copy));
          }
        }
        for (int tokens : tokenCounts) {
          time(ops, new Tensor[] {cold[0]}, tokens, "hot ");
          if (measureCold) {
            time(ops, cold, tokens, "cold");
          }
        }
      }
    }
  }

  private static HostTensor randomWeights(DType dtype, int rows, int cols) {
    MemorySegment seg = Arena.ofAuto().allocate((long) rows * cols * dtype.bytes(), 64);
    SplittableRandom rnd = new SplittableRandom(7);
    for (long i = 0; i < (long) rows * cols; i++) {
      float v = (float) (rnd.nextDouble() * 2 - 1) * 0.05f;
      if (dtype == DType.BF16) {
        seg.setAtIndex(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED, i, CpuTensor.toBf16(v));
      } else {
        seg.setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, i, v);
      }
    }
    return new HostTensor("w", dtype, new int[] {rows, cols}, seg);
  }

  private static void time(Ops ops, Tensor[] ws, int tokens, String label) {
    Tensor w = ws[0];
    int out = w.dim(0);
    int in = w.dim(1);
    Tensor x = ops.allocate(DType.F32, tokens, in);
    float[] xs = new float[tokens * in];
    SplittableRandom rnd = new SplittableRandom(11);
    for (int i = 0; i < xs.length; i++) {
      xs[i] = (float) rnd.nextDouble() - 0.5f;
    }
    ops.copyFromHost(xs, x);
    Tensor y = ops.allocate(DType.F32, tokens, out);
    double weightBytes = (double) out * in * w.dtype().bytes();
    double flops = 2.0 * tokens * out * in;
    long budgetNs = 3_000_000_000L;
    long best = Long.MAX_VALUE;
    int runs = 0;
    long start = System.nanoTime();
    while (System.nanoTime() - start < budgetNs || runs < 5) {
      long t0 = System.nanoTime();
      ops.matmul(x, ws[runs % ws.length], null, y);
      long dt = System.nanoTime() - t0;
      if (System.nanoTime() - start > budgetNs / 3) { // the first third is warm-up
        best = Math.min(best, dt);
      }
      runs++;
    }
    System.out.printf(
        "matmul %s %-4s w[%d, %d] T=%-3d  %8.3f ms  %6.2f GB/s weights  %7.2f GFLOP/s  (%d runs)%n",
        label, w.dtype(), out, in, tokens, best / 1e6, weightBytes / best, flops / best, runs);
  }

  private static void memcpy(long bytes) {
    MemorySegment a = Arena.ofAuto().allocate(bytes, 64);
    MemorySegment b = Arena.ofAuto().allocate(bytes, 64);
    a.fill((byte) 1);
    b.fill((byte) 2);
    long best = Long.MAX_VALUE;
    for (int i = 0; i < 10; i++) {
      long t0 = System.nanoTime();
      MemorySegment.copy(a, 0, b, 0, bytes);
      best = Math.min(best, System.nanoTime() - t0);
    }
    System.out.printf(
        "memcpy %d MiB: %.2f GB/s copied (%.2f GB/s read+write), one thread%n",
        bytes >> 20, bytes / (double) best, 2.0 * bytes / best);
  }
}
