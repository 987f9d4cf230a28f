package dev.lorastream.engine.ops.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The pool's bookkeeping as a state machine: allocate, free, assert offsets and free ranges. */
class DevicePoolTest {

  @Test
  void blocksAre256AlignedFirstFitAndCoalesceOnFree() {
    DevicePool p = new DevicePool(4096);
    long a = p.allocate(1); // [0, 256)
    long b = p.allocate(300); // [256, 768)
    long c = p.allocate(256); // [768, 1024)
    assertEquals(0, a);
    assertEquals(256, b);
    assertEquals(768, c);
    assertEquals(1024, p.usedBytes());
    p.free(b);
    assertEquals(2, p.freeRanges());
    assertEquals(256, p.allocate(100)); // first fit reuses the hole
    p.free(256);
    p.free(a);
    p.free(c);
    assertEquals(1, p.freeRanges());
    assertEquals(4096, p.largestFree());
    assertEquals(0, p.usedBytes());
    assertEquals(1024, p.peakBytes());
  }

  @Test
  void zeroByteRequestsStillGetADistinctBlock() {
    DevicePool p = new DevicePool(1024);
    assertEquals(0, p.allocate(0));
    assertEquals(256, p.allocate(0));
  }

  @Test
  void exhaustionNamesTheRequestAndTheSetting() {
    DevicePool p = new DevicePool(1024);
    p.allocate(512);
    IllegalStateException e = assertThrows(IllegalStateException.class, () -> p.allocate(600));
    assertTrue(
        e.getMessage().contains("768")
            && e.getMessage().contains("512")
            && e.getMessage().contains("lorastream.cuda.pool-bytes"),
        e.getMessage());
  }

  @Test
  void freeingAnUnknownOffsetFails() {
    DevicePool p = new DevicePool(1024);
    assertThrows(IllegalArgumentException.class, () -> p.free(256));
  }

  @Test
  void poolSizeRuleExplicitBytesElseAFractionOfFree() {
    assertEquals(1 << 20, CudaContext.poolBytes(100L << 30, 1 << 20, 0.9));
    assertEquals(1024, CudaContext.poolBytes(100L << 30, 1000, 0.9)); // rounded up to 256
    assertEquals(
        ((long) ((100L << 30) * 0.9)) / 256 * 256, CudaContext.poolBytes(100L << 30, -1, 0.9));
    assertThrows(IllegalArgumentException.class, () -> CudaContext.poolBytes(1 << 30, -1, 1.5));
  }
}
