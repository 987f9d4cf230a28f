package dev.lorastream.engine.ops.cuda;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * The PTX the kernels module produces, read as text from the classpath exactly as {@link
 * CudaKernels#load} does: each module declares a {@code .entry} for every symbol looked up in it.
 * Skipped (with the reason) while the kernels module has not produced {@code kernels/ptx/*.ptx}.
 */
class PtxResourcesTest {

  @Test
  void everyModuleLoadsAsTextAndDeclaresEveryEntry() {
    Map<String, List<String>> lookups = CudaKernels.lookups();
    for (String res : lookups.keySet()) {
      Assumptions.assumeTrue(
          getClass().getClassLoader().getResource(res) != null,
          res + " is not on the test classpath yet: the kernels module has not produced its PTX");
    }
    for (Map.Entry<String, List<String>> e : lookups.entrySet()) {
      String ptx = CudaKernels.readPtx(e.getKey());
      assertTrue(
          ptx.contains(".version") && ptx.contains(".target"),
          e.getKey() + " does not look like PTX text");
      for (String sym : e.getValue()) {
        assertTrue(
            ptx.matches("(?s).*\\.entry\\s+" + sym + "\\s*\\(.*"),
            e.getKey() + " has no .entry " + sym);
      }
    }
  }

  @Test
  void aMissingResourceNamesItselfAndTheModule() {
    IllegalStateException e =
        org.junit.jupiter.api.Assertions.assertThrows(
            IllegalStateException.class, () -> CudaKernels.readPtx("kernels/ptx/nope.ptx"));
    assertTrue(
        e.getMessage().contains("kernels/ptx/nope.ptx")
            && e.getMessage().contains("kernels module"),
        e.getMessage());
  }
}
