package dev.lorastream.engine.backends;

import dev.lorastream.engine.ops.Ops;
import dev.lorastream.engine.ops.cpu.CpuOps;
import dev.lorastream.engine.ops.cpu.NativeCpu;
import dev.lorastream.engine.ops.cuda.CudaOps;
import dev.lorastream.engine.ops.ref.ReferenceOps;
import java.io.PrintStream;
import java.util.List;
import java.util.Locale;

/**
 * Chooses a compute backend by name: {@code cpu} (Vector API), {@code cuda} (JCuda; fails with the
 * reason when no usable GPU is present), {@code reference} (plain loops, for checking), or {@code
 * auto}: CUDA when a device works (JCuda loads, {@code cuInit}, a device of compute capability ≥
 * 8.0, every PTX module loads; probed once per process), else the CPU. Each prints one line on
 * stderr saying which backend was chosen and why, and for the CPU which kernels ({@link NativeCpu}:
 * native AVX512_BF16 or AVX-512, or the Java Vector API) and why.
 */
public final class Backends {
  /**
   * The system property naming a service's backend: {@code auto}, {@code cuda}, {@code cpu} or
   * {@code reference}.
   */
  public static final String PROPERTY = "lorastream.backend";

  /**
   * Every system property the backends read: the choice, and the CPU backend's thread count,
   * kernels and weight format.
   */
  public static final List<String> KEYS =
      List.of(PROPERTY, CpuOps.THREADS, NativeCpu.PROPERTY, CpuOps.WEIGHTS);

  private Backends() {}

  public static Ops create(String name) {
    return create(name, System.err);
  }

  /** As {@link #create(String)}, printing the choice to {@code log}. */
  public static Ops create(String name, PrintStream log) {
    return switch (name.toLowerCase(Locale.ROOT)) {
      case "auto" -> auto(log);
      case "cuda", "gpu" -> cuda(log, "");
      case "cpu" -> cpu(log, "");
      case "reference", "ref" -> new ReferenceOps();
      default ->
          throw new IllegalArgumentException(
              "unknown backend '"
                  + name
                  + "': use auto, cpu, cuda or reference ("
                  + PROPERTY
                  + ")");
    };
  }

  private static Ops auto(PrintStream log) {
    if (CudaOps.available()) {
      return cuda(log, "auto: ");
    }
    return cpu(log, "auto: cuda unavailable: " + CudaOps.availability() + "; ");
  }

  private static Ops cpu(PrintStream log, String why) {
    CpuOps ops = new CpuOps();
    log.println(
        "lorastream: backend cpu ("
            + why
            + "kernels: "
            + NativeCpu.choice().description()
            + (ops.weightFormat() == CpuOps.WeightFormat.INT8
                ? "; weights: int8 per output row (" + CpuOps.WEIGHTS + "=int8)"
                : "")
            + ")");
    return ops;
  }

  private static Ops cuda(PrintStream log, String why) {
    if (!CudaOps.available()) {
      throw new IllegalStateException(
          "backend 'cuda' requested but no usable GPU: "
              + CudaOps.availability()
              + " (use --backend cpu or auto, or lorastream.backend=cpu)");
    }
    CudaOps ops = new CudaOps();
    log.println("lorastream: backend " + ops.name() + " (" + why + ops.describe() + ")");
    return ops;
  }
}
