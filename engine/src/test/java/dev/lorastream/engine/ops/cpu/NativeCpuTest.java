package dev.lorastream.engine.ops.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.lorastream.engine.ops.cpu.NativeCpu.Kernel;
import org.junit.jupiter.api.Test;

class NativeCpuTest {

  /** Whether this build holds the library (gcc was there when the engine module was built). */
  private static boolean built() {
    return NativeCpu.class.getResource("/native/linux-x86_64/liblorastream_cpu.so") != null;
  }

  @Test
  void aLibraryBuiltWithTheEngineLoadsAndReportsTheCpu() {
    assumeTrue(built(), "engine built without gcc: nothing to load");
    assertNull(NativeCpu.loadError());
    NativeCpu lib = NativeCpu.library();
    assertNotNull(lib);
    String flags = cpuFlags();
    assertEquals(
        flags.contains(" avx512f ") && flags.contains(" avx512bw "), lib.has(NativeCpu.AVX512));
    assertEquals(
        flags.contains(" avx512_bf16 ") && lib.has(NativeCpu.AVX512),
        lib.has(NativeCpu.AVX512_BF16),
        "AVX512_BF16 as /proc/cpuinfo says");
    assertEquals(
        flags.contains(" amx_bf16 "), lib.has(NativeCpu.AMX_BF16), "AMX as /proc/cpuinfo says");
  }

  @Test
  void theJavaKernelsAreChosenOnRequestAndAnythingElseIsRefused() {
    assertEquals(Kernel.VECTOR, NativeCpu.choose("vector").kernel());
    assertEquals(
        "java vector (lorastream.cpu.kernels=vector)", NativeCpu.choose("vector").description());
    var e = assertThrows(IllegalArgumentException.class, () -> NativeCpu.choose("amx512"));
    assertEquals(
        "lorastream.cpu.kernels=amx512 is invalid: use auto, amx, bf16dot, fma or vector",
        e.getMessage());
  }

  @Test
  void autoTakesTheBestKernelTheCpuRunsAndForcingFmaEmulatesACpuWithoutBf16() {
    NativeCpu.Choice auto = NativeCpu.choose("auto");
    Kernel best =
        NativeCpu.canRun(Kernel.AMX)
            ? Kernel.AMX
            : NativeCpu.canRun(Kernel.BF16DOT)
                ? Kernel.BF16DOT
                : NativeCpu.canRun(Kernel.FMA) ? Kernel.FMA : Kernel.VECTOR;
    assertEquals(best, auto.kernel(), auto.description());
    if (NativeCpu.canRun(Kernel.FMA)) {
      assertEquals(Kernel.FMA, NativeCpu.choose("fma").kernel());
      assertTrue(
          NativeCpu.choose("fma")
              .description()
              .startsWith("native fma (lorastream.cpu.kernels=fma; CPU: "));
    } else {
      assertEquals(Kernel.VECTOR, NativeCpu.choose("fma").kernel(), "the next path down");
    }
    if (!NativeCpu.canRun(Kernel.BF16DOT)) {
      var e = assertThrows(IllegalArgumentException.class, () -> new CpuOps(1, Kernel.BF16DOT));
      assertTrue(
          e.getMessage().startsWith("the cpu kernel BF16DOT cannot run here"), e.getMessage());
    }
  }

  @Test
  void askingForAmxOnACpuWithoutItRunsBf16dotAndSaysWhy() {
    assumeTrue(NativeCpu.canRun(Kernel.BF16DOT) && !NativeCpu.canRun(Kernel.AMX));
    NativeCpu.Choice c = NativeCpu.choose("amx");
    assertEquals(Kernel.BF16DOT, c.kernel());
    assertTrue(
        c.description()
            .startsWith(
                "native bf16dot for BF16 weights, fma for F32 (lorastream.cpu.kernels=amx: "),
        c.description());
    if (!cpuFlags().contains(" amx_bf16 ")) {
      assertTrue(c.description().contains(": the CPU has no AMX-BF16;"), c.description());
    }
  }

  @Test
  void theAmxKernelPassesItsChecksOnTheEmulatedTileInstructions() throws Exception {
    // lorastream_amx.c with the tile instructions emulated in C (amx_emu.h), under
    // AddressSanitizer:
    // thousands of shapes against a double reference and against bf16dot (amx_check.c)
    assumeTrue(built(), "engine built without gcc");
    java.nio.file.Path script = java.nio.file.Path.of("src/main/native/amx-emu-check.sh");
    assumeTrue(java.nio.file.Files.isRegularFile(script), "run from the engine module");
    Process p =
        new ProcessBuilder("sh", script.toString(), "asan").redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes());
    assertEquals(0, p.waitFor(), out);
    assertTrue(out.matches("(?s).*amx emu check: \\d+ cases, 0 failed.*"), out);
  }

  private static String cpuFlags() {
    try {
      for (String line : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/cpuinfo"))) {
        if (line.startsWith("flags")) {
          return " " + line.substring(line.indexOf(':') + 1).trim() + " ";
        }
      }
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    return " ";
  }
}
