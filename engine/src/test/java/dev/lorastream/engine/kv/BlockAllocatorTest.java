package dev.lorastream.engine.kv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import org.junit.jupiter.api.Test;

class BlockAllocatorTest {
  @Test
  void handsOutEveryBlockOnceThenRunsOut() {
    BlockAllocator a = new BlockAllocator(3);
    assertEquals(0, a.allocate());
    assertEquals(1, a.allocate());
    assertEquals(2, a.allocate());
    assertEquals(-1, a.allocate());
    assertEquals(0, a.numFree());
  }

  @Test
  void freedBlocksAreReusedFirst() {
    BlockAllocator a = new BlockAllocator(4);
    int b0 = a.allocate();
    int b1 = a.allocate();
    a.freeAll(List.of(b0, b1));
    assertEquals(4, a.numFree());
    assertEquals(b1, a.allocate());
  }

  @Test
  void doubleFreeIsABug() {
    BlockAllocator a = new BlockAllocator(2);
    int b = a.allocate();
    a.free(b);
    var e = assertThrows(IllegalStateException.class, () -> a.free(b));
    assertEquals("block 0 is not allocated", e.getMessage());
  }
}
