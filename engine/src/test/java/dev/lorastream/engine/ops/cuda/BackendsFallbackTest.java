package dev.lorastream.engine.ops.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.engine.backends.Backends;
import dev.lorastream.engine.ops.Ops;
import dev.lorastream.engine.ops.cpu.CpuOps;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * Backend selection without a GPU (here): {@code auto} falls back to the CPU and says why on one
 * line, {@code cuda} fails with the reason; asking twice gives the same answer (the probe runs
 * once). With a GPU, {@link CudaOpsParityTest} covers the other branch.
 */
class BackendsFallbackTest {

  @Test
  void autoWithoutAGpuIsTheCpuAndSaysWhy() {
    Assumptions.assumeFalse(
        CudaOps.available(), "a usable GPU is present: " + CudaOps.availability());
    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    try (Ops ops = Backends.create("auto", new PrintStream(buf, true, StandardCharsets.UTF_8))) {
      assertInstanceOf(CpuOps.class, ops);
    }
    String line = buf.toString(StandardCharsets.UTF_8);
    assertEquals(1, line.lines().count(), line);
    assertTrue(line.startsWith("lorastream: backend cpu (auto: cuda unavailable: "), line);
    assertTrue(line.contains(CudaOps.availability()), line);
  }

  @Test
  void cudaWithoutAGpuFailsWithTheReason() {
    Assumptions.assumeFalse(
        CudaOps.available(), "a usable GPU is present: " + CudaOps.availability());
    IllegalStateException e =
        assertThrows(IllegalStateException.class, () -> Backends.create("cuda"));
    assertTrue(
        e.getMessage().contains("backend 'cuda' requested but no usable GPU"), e.getMessage());
    assertTrue(e.getMessage().contains(CudaOps.availability()), e.getMessage());
    IllegalStateException again = assertThrows(IllegalStateException.class, () -> new CudaOps());
    assertTrue(again.getMessage().startsWith("cuda backend unavailable: "), again.getMessage());
  }

  @Test
  void theProbeRunsOnceAndNeverThrows() {
    String first = CudaOps.availability();
    for (int i = 0; i < 3; i++) {
      assertEquals(first, CudaOps.availability());
    }
  }

  @Test
  void unknownNamesListTheChoices() {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> Backends.create("tpu"));
    assertTrue(e.getMessage().contains("'tpu'") && e.getMessage().contains("cuda"), e.getMessage());
  }
}
