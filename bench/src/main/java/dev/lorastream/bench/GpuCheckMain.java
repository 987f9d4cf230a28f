package dev.lorastream.bench;

import dev.lorastream.engine.ops.cuda.CudaDeviceBench;
import dev.lorastream.engine.ops.cuda.CudaOps;
import dev.lorastream.tools.MakeAdapters;
import dev.lorastream.tools.MakeModel;
import java.util.Arrays;
import picocli.CommandLine;

/**
 * Entry point of {@code scripts/gpu-check.sh} on the GPU machine, which carries only the bench
 * module's runtime classpath (the launcher's full classpath is over the 64 MiB the machine may
 * receive): {@code make-model}, {@code make-adapters} and {@code bench ...} run the same picocli
 * commands as {@code ./lorastream}; {@code device-bench} runs {@link CudaDeviceBench}; {@code
 * probe} prints the backend choice and exits 0 only with a usable GPU.
 */
public final class GpuCheckMain {
  private GpuCheckMain() {}

  public static void main(String[] args) {
    if (args.length == 0) {
      System.err.println(
          "usage: GpuCheckMain probe | make-model ARGS | make-adapters ARGS | bench ARGS | device-bench [reps]");
      System.exit(2);
    }
    String[] rest = Arrays.copyOfRange(args, 1, args.length);
    int rc =
        switch (args[0]) {
          case "probe" -> {
            System.out.println(
                "cuda "
                    + (CudaOps.available() ? "available: " : "unavailable: ")
                    + CudaOps.availability());
            yield CudaOps.available() ? 0 : 1;
          }
          case "make-model" -> new CommandLine(new MakeModel()).execute(rest);
          case "make-adapters" -> new CommandLine(new MakeAdapters()).execute(rest);
          case "bench" -> new CommandLine(new BenchCommand()).execute(rest);
          case "device-bench" -> {
            CudaDeviceBench.main(rest);
            yield 0;
          }
          default -> {
            System.err.println("GpuCheckMain: unknown command '" + args[0] + "'");
            yield 2;
          }
        };
    System.exit(rc);
  }
}
