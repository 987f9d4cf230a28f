package dev.lorastream.engine.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The CPU backend's outputs do not depend on the JIT tier: {@link TierFixture} run in a {@code
 * -Xint} JVM (the Vector API's Java fallback, as in a cold process) and in a JVM where C2 has
 * compiled every kernel (the Vector API intrinsics) gives bit-identical floats. Without this,
 * greedy or seeded sampling could pick a different token near a tie in a fresh process than in a
 * warm one.
 *
 * <p>The compiled side runs with {@code -Xbatch} (each compilation finishes before the code runs
 * on) and thresholds scaled to a tenth, so after {@link #WARMUP_RUNS} runs C2 code is what runs,
 * whatever the load of the machine; no timing is involved.
 *
 * <p>What breaks it: an operation the Vector API leaves implementation-defined, which the Java
 * fallback and C2 then compute differently, e.g. {@code reduceLanes(ADD)} on floats (summation
 * order) or {@code lanewise(EXP)} (a vector math library). {@code fma}, {@code add}, {@code mul}
 * and the scalar {@code Math} calls the backend uses give the same bits in every tier.
 */
class CpuOpsTierDeterminismTest {
  /**
   * Fixture runs before the compared one; with the scaled thresholds ~70 compile every kernel at
   * tier 4.
   */
  private static final int WARMUP_RUNS = 200;

  @Test
  void interpretedAndCompiledOutputsAreBitIdentical(@TempDir Path dir) throws Exception {
    Process cold = start(dir, "xint", "-Xint", "0");
    Process warm =
        start(dir, "c2", "-Xbatch", "-XX:CompileThresholdScaling=0.1", String.valueOf(WARMUP_RUNS));
    Map<String, int[]> interpreted = finish(cold, dir, "xint");
    Map<String, int[]> compiled = finish(warm, dir, "c2");
    assertEquals(
        List.copyOf(interpreted.keySet()), List.copyOf(compiled.keySet()), "fixture outputs");
    List<String> differing = new ArrayList<>();
    for (Map.Entry<String, int[]> e : interpreted.entrySet()) {
      int[] a = e.getValue();
      int[] b = compiled.get(e.getKey());
      assertEquals(a.length, b.length, e.getKey());
      int n = 0;
      int first = -1;
      for (int i = 0; i < a.length; i++) {
        if (a[i] != b[i]) {
          first = n++ == 0 ? i : first;
        }
      }
      if (n > 0) {
        differing.add(
            String.format(
                "%s: %d of %d differ, first [%d] %s (-Xint) vs %s (C2)",
                e.getKey(),
                n,
                a.length,
                first,
                Float.intBitsToFloat(a[first]),
                Float.intBitsToFloat(b[first])));
      }
    }
    if (!differing.isEmpty()) {
      fail("outputs depend on the JIT tier:\n  " + String.join("\n  ", differing));
    }
  }

  /**
   * {@link TierFixture#main} in a JVM like this one (java, module flags, classpath) with {@code
   * args}.
   */
  private static Process start(Path dir, String name, String... args) throws IOException {
    List<String> cmd =
        new ArrayList<>(
            List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx256m",
                "--add-modules",
                "jdk.incubator.vector",
                "--enable-native-access=ALL-UNNAMED"));
    cmd.addAll(List.of(args).subList(0, args.length - 1));
    cmd.addAll(
        List.of(
            "-cp",
            System.getProperty("java.class.path"),
            TierFixture.class.getName(),
            args[args.length - 1]));
    return new ProcessBuilder(cmd)
        .redirectOutput(dir.resolve(name + ".out").toFile())
        .redirectError(dir.resolve(name + ".err").toFile())
        .start();
  }

  /** Waits for the run and parses its lines: label, tab, float bits in hex. */
  private static Map<String, int[]> finish(Process p, Path dir, String name) throws Exception {
    assertTrue(p.waitFor(2, TimeUnit.MINUTES), "the " + name + " run took over 2 minutes");
    if (p.exitValue() != 0) {
      fail(
          "the "
              + name
              + " run failed, exit "
              + p.exitValue()
              + ": "
              + read(dir.resolve(name + ".err")));
    }
    Map<String, int[]> out = new LinkedHashMap<>();
    for (String line : read(dir.resolve(name + ".out")).split("\n")) {
      if (line.isBlank()) {
        continue;
      }
      String[] parts = line.split("\t", 2);
      String[] hex = parts[1].trim().split(" ");
      int[] bits = new int[hex.length];
      for (int i = 0; i < hex.length; i++) {
        bits[i] = Integer.parseUnsignedInt(hex[i], 16);
      }
      out.put(parts[0], bits);
    }
    return out;
  }

  private static String read(Path p) throws IOException {
    return Files.readString(p, StandardCharsets.UTF_8);
  }
}
