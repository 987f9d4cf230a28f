package dev.lorastream.engine.lora;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.engine.config.Proj;
import dev.lorastream.engine.ops.Ops;
import dev.lorastream.engine.ops.ref.ReferenceOps;
import dev.lorastream.engine.tensor.DType;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The slot LRU as a state machine: each call, then the slot contents and bookkeeping. */
class AdapterSlotsTest {
  @TempDir Path tmp;
  private final Ops ops = new ReferenceOps();

  private LoraAdapter adapter(String name, int r, double alpha, Set<Proj> targets) {
    StringBuilder mods = new StringBuilder("[");
    for (Proj p : targets) {
      mods.append(mods.length() > 1 ? "," : "").append('"').append(p.hfName()).append('"');
    }
    mods.append(']');
    Path dir =
        TestAdapters.write(
            tmp.resolve(name),
            TestAdapters.config(r, alpha, mods.toString(), ""),
            TestAdapters.weights(TestAdapters.TINY, r, targets, DType.F32));
    return LoraAdapter.load(dir, TestAdapters.TINY, 16);
  }

  private AdapterSlots slots(int maxLoras) {
    return new AdapterSlots(
        ops, TestAdapters.TINY, maxLoras, 4, EnumSet.of(Proj.Q, Proj.V, Proj.DOWN));
  }

  @Test
  void leastRecentlyUsedUnpinnedSlotIsEvictedAndPinnedOnesNever() {
    AdapterSlots s = slots(2);
    LoraAdapter a = adapter("a", 2, 4, Set.of(Proj.Q));
    LoraAdapter b = adapter("b", 2, 4, Set.of(Proj.Q));
    LoraAdapter c = adapter("c", 2, 4, Set.of(Proj.Q));
    assertEquals(0, s.acquire(a));
    assertEquals(1, s.acquire(b));
    assertEquals(-1, s.acquire(c), "both slots pinned");
    assertTrue(!s.hasRoomFor("c", c));
    s.release(0);
    assertEquals(0, s.acquire(c), "a was unpinned: evicted");
    assertEquals(Arrays.asList("c", "b"), s.residents());
    assertEquals(-1, s.slotOf("a"));
    assertEquals(1, s.acquire(b), "resident: no load");
    assertEquals(2, s.pins(1));
    assertEquals(3, s.loads());
    assertEquals(1, s.evictions());
    s.release(1);
    s.release(1);
    s.release(0);
    // last uses: c (third acquire), b (fourth): a evicts c
    assertEquals(0, s.acquire(a));
    assertEquals(Arrays.asList("a", "b"), s.residents());
  }

  @Test
  void invalidateFreesAnUnpinnedSlotAtOnceAndAPinnedOneAtItsLastRelease() {
    AdapterSlots s = slots(2);
    LoraAdapter v1 = adapter("v1", 2, 4, Set.of(Proj.Q));
    LoraAdapter v2 = adapter("v2", 2, 4, Set.of(Proj.Q));
    LoraAdapter other = adapter("other", 2, 4, Set.of(Proj.Q));
    assertEquals(0, s.acquire("x", v1));
    assertTrue(s.invalidate("x"), "resident, pinned: retired");
    assertEquals(-1, s.slotOf("x"));
    assertEquals(1, s.acquire("x", v2), "the new version gets another slot; slot 0 stays for v1");
    assertEquals(Arrays.asList("x", "x"), s.residents());
    assertEquals(-1, s.acquire("y", other), "both pinned");
    s.release(0); // v1's last sequence finished
    assertEquals(Arrays.asList(null, "x"), s.residents());
    assertEquals(0, s.acquire("y", other), "the retired slot is free again");
    s.release(1);
    assertTrue(s.invalidate("x"), "resident, unpinned: freed now");
    assertEquals(Arrays.asList("y", null), s.residents());
    assertEquals(false, s.invalidate("x"), "no longer resident");
    assertEquals(2, s.invalidations());
    assertEquals(3, s.loads());
  }

  @Test
  void anotherCopyOfAResidentIdIsWrittenAgainNotServedTheOldWeights() {
    AdapterSlots s = slots(2);
    LoraAdapter v1 = adapter("v1", 2, 4, Set.of(Proj.Q));
    LoraAdapter v2 = adapter("v2", 2, 4, Set.of(Proj.Q));
    assertEquals(0, s.acquire("x", v1));
    s.release(0);
    assertEquals(0, s.acquire("x", v1), "the same copy: no write");
    assertEquals(1, s.loads());
    s.release(0);
    assertEquals(0, s.acquire("x", v2), "another copy: written again");
    assertEquals(2, s.loads());
    assertEquals(1, s.invalidations());
  }

  @Test
  void slotHoldsAAndScaledBTransposedInItsOwnRows() {
    AdapterSlots s = slots(2);
    LoraAdapter a = adapter("a", 2, 8, Set.of(Proj.Q, Proj.V)); // scale 8 / 2 = 4
    s.acquire(adapter("filler", 3, 3, Set.of(Proj.V)));
    int slot = s.acquire(a);
    assertEquals(1, slot);
    assertEquals(4, s.rowStarts()[1], "the second granule of 4 rows");
    int in = Proj.Q.inDim(TestAdapters.TINY);
    int out = Proj.Q.outDim(TestAdapters.TINY);
    float[] all = new float[2 * 4 * in];
    ops.copyToHost(s.a(Proj.Q, 1), all);
    float[] expectA = new float[4 * in];
    System.arraycopy(TestAdapters.factor(1, Proj.Q, true, 2 * in), 0, expectA, 0, 2 * in);
    assertArrayEquals(expectA, Arrays.copyOfRange(all, 4 * in, 8 * in));
    float[] bAll = new float[2 * 4 * out];
    ops.copyToHost(s.bT(Proj.Q, 1), bAll);
    float[] b = TestAdapters.factor(1, Proj.Q, false, out * 2); // [out, r]
    for (int r = 0; r < 4; r++) {
      for (int o = 0; o < out; o++) {
        float expected = r < 2 ? 4f * b[o * 2 + r] : 0f;
        assertEquals(expected, bAll[4 * out + r * out + o], "bT[1][" + r + "][" + o + "]");
      }
    }
    assertEquals(2, s.ranks(Proj.Q)[1]);
    assertEquals(2, s.ranks(Proj.V)[1]);
    assertEquals(0, s.ranks(Proj.DOWN)[1], "not targeted: rank 0");
    assertEquals(0, s.ranks(Proj.Q)[0], "filler targets only v");
    assertEquals(3, s.ranks(Proj.V)[0]);
  }

  @Test
  void refusesARankAboveTheMaximumOrAnUnslottedProjectionNamingTheKey() {
    AdapterSlots s = slots(2);
    var e =
        assertThrows(
            IllegalArgumentException.class, () -> s.acquire(adapter("big", 8, 8, Set.of(Proj.Q))));
    assertTrue(e.getMessage().contains("'big' has rank 8 above the maximum 4"), e.getMessage());
    assertTrue(e.getMessage().contains("lorastream.lora.max-rank"), e.getMessage());
    e =
        assertThrows(
            IllegalArgumentException.class, () -> s.acquire(adapter("up", 2, 2, Set.of(Proj.UP))));
    assertTrue(e.getMessage().contains("up_proj"), e.getMessage());
  }

  private AdapterSlots pool(int maxLoras) {
    return new AdapterSlots(ops, TestAdapters.TINY, maxLoras, 16, EnumSet.of(Proj.Q));
  }

  @Test
  void adaptersTakeTheirTrueRankRoundedToAGranuleSoSmallOnesFitWherePaddedSlotsWouldNot() {
    AdapterSlots s = pool(2); // 2 x 16 rows = 32 rows, granules of 8: padded slots would hold 2
    assertEquals(32, s.poolRows());
    assertEquals(8, s.granule());
    for (int i = 0; i < 4; i++) {
      assertEquals(i, s.acquire(adapter("r8-" + i, 8, 8, Set.of(Proj.Q))));
      assertEquals(8 * i, s.rowStarts()[i]);
    }
    assertEquals(4, s.residentCount(), "four of rank 8 in the bytes of two of rank 16");
    assertEquals(32, s.usedRows());
    s.release(1);
    s.release(2);
    LoraAdapter wide = adapter("r16", 16, 16, Set.of(Proj.Q));
    assertEquals(1, s.acquire(wide), "rows 8-23: the two unpinned neighbours make one run");
    assertEquals(8, s.rowStarts()[1]);
    assertEquals(16, s.ranks(Proj.Q)[1]);
    assertEquals(Arrays.asList("r8-0", "r16", null, "r8-3"), s.residents().subList(0, 4));
    assertEquals(2, s.evictions());
  }

  @Test
  void aRunMustBeContiguousAndFreeOfPinnedAdapters() {
    AdapterSlots s = pool(2);
    for (int i = 0; i < 4; i++) {
      s.acquire(adapter("r8-" + i, 8, 8, Set.of(Proj.Q)));
    }
    s.release(0);
    s.release(2); // granules 0 and 2 unpinned, 1 and 3 pinned: no two neighbours free
    LoraAdapter wide = adapter("r16", 16, 16, Set.of(Proj.Q));
    assertTrue(!s.hasRoomFor("r16", wide));
    assertEquals(-1, s.acquire(wide));
    assertEquals(0, s.evictions(), "a failed acquire evicts nothing");
    LoraAdapter small = adapter("small", 3, 3, Set.of(Proj.Q));
    assertEquals(0, s.acquire(small), "rank 3 takes one granule: the least recently used one");
    assertEquals(3, s.ranks(Proj.Q)[0]);
  }

  @Test
  void aWriteOffTheCallingThreadIsResidentOnlyOnceFinishedAndItsRowsAreNeverEvictedMeanwhile() {
    java.util.ArrayDeque<Runnable> queued = new java.util.ArrayDeque<>();
    AdapterSlots s =
        new AdapterSlots(ops, TestAdapters.TINY, 1, 16, EnumSet.of(Proj.Q), queued::add);
    LoraAdapter a = adapter("a", 8, 8, Set.of(Proj.Q));
    LoraAdapter b = adapter("b", 16, 16, Set.of(Proj.Q));
    assertEquals(-1, s.acquire(a), "rows reserved, the write queued");
    assertEquals(1, s.filling());
    assertEquals(0, s.ranks(Proj.Q)[0], "no kernel reads it yet");
    assertEquals(-1, s.acquire(b), "a's rows are being written: not evictable");
    assertEquals(0, s.evictions());
    assertEquals(1, queued.size(), "b got no rows, so no write");
    queued.poll().run();
    assertEquals(0, s.acquire(a), "written: pinned now");
    assertEquals(8, s.ranks(Proj.Q)[0]);
    assertEquals(0, s.filling());
    s.release(0);
    assertEquals(-1, s.acquire(b), "a evicted, b being written");
    assertEquals(1, s.evictions());
    assertTrue(s.invalidate("b"), "invalidated while written: freed when the write ends");
    queued.poll().run();
    assertEquals(-1, s.acquire(a), "the freed rows are reserved for a again");
    assertEquals(0, s.residents().stream().filter("b"::equals).count());
  }

  @Test
  void releasingAnUnpinnedSlotIsABug() {
    AdapterSlots s = slots(1);
    assertThrows(IllegalStateException.class, () -> s.release(0));
  }
}
