package dev.lorastream.engine.ops.cuda;

import dev.lorastream.engine.ops.Tensor;
import dev.lorastream.engine.tensor.DType;
import java.util.Arrays;
import java.util.Locale;

/**
 * Device-side figures for the GPU check, measured in one run: copy bandwidth of the device (a large
 * device-to-device copy through {@code copyRows}, read + write bytes over time) and the achieved
 * bandwidth of SGMV shrink + expand at Llama-7B widths (4096 in and out, rank 16) for a decode
 * batch with 1, 100 and 1000 distinct slots: bytes of adapter rows and activations touched over
 * time. Medians of interleaved repeats.
 */
public final class CudaDeviceBench {
  private CudaDeviceBench() {}

  /** Prints {@code device-bench NAME VALUE} lines on stdout. */
  public static void main(String[] args) {
    int reps = args.length > 0 ? Integer.parseInt(args[0]) : 7;
    try (CudaOps ops = new CudaOps("f16", 24L << 30)) {
      System.out.println("device-bench device " + CudaOps.availability().replace(' ', '_'));
      double copy = copyBandwidth(ops, 1 << 30, reps);
      System.out.printf(Locale.ROOT, "device-bench copy_GBps %.1f%n", copy);
      for (int batch : new int[] {32, 128}) {
        for (int n : new int[] {1, 100, 1000}) {
          double gbps = sgmvBandwidth(ops, batch, Math.min(n, batch), n, reps);
          System.out.printf(
              Locale.ROOT,
              "device-bench sgmv_GBps_batch%d_adapters%d %.1f (%.0f%% of copy)%n",
              batch,
              n,
              gbps,
              100 * gbps / copy);
        }
      }
    }
  }

  static double median(double[] v) {
    double[] s = v.clone();
    Arrays.sort(s);
    return s[s.length / 2];
  }

  /** Read + write GB/s of a {@code bytes} device copy. */
  static double copyBandwidth(CudaOps ops, long bytes, int reps) {
    int rows = 1024;
    int cols = (int) (bytes / 2 / rows);
    Tensor a = ops.allocate(DType.F16, rows, cols);
    Tensor b = ops.allocate(DType.F16, rows, cols);
    double[] gbps = new double[reps];
    for (int r = 0; r < reps; r++) {
      ops.synchronize();
      long t0 = System.nanoTime();
      ops.copyRows(a, 0, b, 0, rows);
      ops.synchronize();
      gbps[r] = 2.0 * rows * cols * 2 / (System.nanoTime() - t0);
    }
    return median(gbps);
  }

  /**
   * GB/s of one shrink + expand over {@code batch} decode rows in {@code segments} segments using
   * distinct slots out of {@code slots}: bytes = the slots' A and Bᵀ rows read + x read + v
   * written/read + y read/written.
   */
  static double sgmvBandwidth(CudaOps ops, int batch, int segments, int slots, int reps) {
    int h = 4096;
    int rank = 16;
    int used = Math.min(slots, 1000);
    Tensor a = ops.allocate(DType.F16, used * rank, h); // each slot's rows, one after another
    Tensor bT = ops.allocate(DType.F16, used * rank, h);
    Tensor x = ops.allocate(DType.F16, batch, h);
    Tensor v = ops.allocate(DType.F16, batch, rank);
    Tensor y = ops.allocate(DType.F16, batch, h);
    int[] ranks = new int[used];
    Arrays.fill(ranks, rank);
    int[] rowStarts = new int[used];
    Arrays.setAll(rowStarts, s -> s * rank);
    int[] starts = new int[segments + 1];
    int[] segSlots = new int[segments];
    for (int j = 0; j < segments; j++) {
      starts[j + 1] = (int) ((long) batch * (j + 1) / segments);
      segSlots[j] = (int) ((long) j * used / segments);
    }
    double bytes =
        2.0 * segments * rank * h * 2
            + 2.0 * batch * h * 2
            + 2.0 * batch * h * 2
            + 4.0 * batch * rank;
    int inner = 50;
    double[] gbps = new double[reps];
    for (int r = 0; r < reps; r++) {
      ops.synchronize();
      long t0 = System.nanoTime();
      for (int i = 0; i < inner; i++) {
        ops.sgmvShrink(x, a, ranks, rowStarts, starts, segSlots, v);
        ops.sgmvExpand(v, bT, ranks, rowStarts, starts, segSlots, y);
      }
      ops.synchronize();
      gbps[r] = bytes * inner / (System.nanoTime() - t0);
    }
    return median(gbps);
  }
}
