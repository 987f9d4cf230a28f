package dev.lorastream.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The machine a benchmark ran on, as docs/benchmarks.md asks every report to name it.
 *
 * @param cpuModel {@code model name} from /proc/cpuinfo, or {@code os.arch} where that file is
 *     missing
 * @param cores processors visible to the JVM
 * @param maxHeapMb the JVM's heap limit
 */
public record MachineInfo(String cpuModel, int cores, String jdk, String os, long maxHeapMb) {

  public static MachineInfo detect() {
    return new MachineInfo(
        readCpuModel(),
        Runtime.getRuntime().availableProcessors(),
        System.getProperty("java.vm.name") + " " + Runtime.version(),
        System.getProperty("os.name")
            + " "
            + System.getProperty("os.version")
            + " "
            + System.getProperty("os.arch"),
        Runtime.getRuntime().maxMemory() >> 20);
  }

  private static String readCpuModel() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
        if (line.startsWith("model name")) {
          return line.substring(line.indexOf(':') + 1).trim();
        }
      }
    } catch (IOException | RuntimeException e) {
      // not Linux: fall through
    }
    return System.getProperty("os.arch");
  }
}
