package dev.lorastream.engine.lora;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.engine.config.Proj;
import dev.lorastream.engine.kv.KvCache;
import dev.lorastream.engine.kv.PagePool;
import dev.lorastream.engine.ops.Ops;
import dev.lorastream.engine.ops.ref.ReferenceOps;
import dev.lorastream.engine.tensor.DType;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
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
    LoraAdapter filler = adapter("filler", 3, 3, Set.of(Proj.V));
    LoraAdapter a = adapter("a", 2, 8, Set.of(Proj.Q, Proj.V)); // scale 8 / 2 = 4
    assertEquals(0, s.acquire(filler));
    int slot = s.acquire(a);
    assertEquals(1, slot);
    // TINY pages hold 16 tokens x 1 KV head x 4 = 64 elements; 2 x 3 pages (rank 4 on q, v, down).
    // filler (v, rank 3): (3 + 1) x 8 in, (3 + 1) x 4 out: 1 page, the top one (5); a (q and v,
    // rank 2): 3 x 16 in, 3 x 12 out: 1 page, the next one down (4)
    assertEquals(6, s.pool().pages());
    assertEquals(4 * 64 / 8, s.aRows(Proj.Q)[1], "a's q rows start page 4 (row width 8)");
    assertEquals(4 * 64 / 8 + 2, s.aRows(Proj.V)[1], "then its v rows");
    assertEquals(4 * 64 / 8, s.bRows(Proj.Q)[1], "bT of q (width 8) starts page 4 too");
    assertEquals((4 * 64 + 2 * 8) / 4, s.bRows(Proj.V)[1], "then bT of v, width 4");
    assertEquals(5 * 64 / 8, s.aRows(Proj.V)[0], "filler's page 5");
    int in = Proj.Q.inDim(TestAdapters.TINY);
    int out = Proj.Q.outDim(TestAdapters.TINY);
    float[] all = new float[Math.toIntExact(s.a(Proj.Q, 1).numel())];
    ops.copyToHost(s.a(Proj.Q, 1), all);
    int row = s.aRows(Proj.Q)[1];
    assertArrayEquals(
        TestAdapters.factor(1, Proj.Q, true, 2 * in),
        Arrays.copyOfRange(all, row * in, (row + 2) * in));
    float[] bAll = new float[Math.toIntExact(s.bT(Proj.Q, 1).numel())];
    ops.copyToHost(s.bT(Proj.Q, 1), bAll);
    float[] b = TestAdapters.factor(1, Proj.Q, false, out * 2); // [out, r]
    int bRow = s.bRows(Proj.Q)[1];
    for (int r = 0; r < 2; r++) {
      for (int o = 0; o < out; o++) {
        assertEquals(4f * b[o * 2 + r], bAll[(bRow + r) * out + o], "bT[" + r + "][" + o + "]");
      }
    }
    float[] vAll = new float[Math.toIntExact(s.a(Proj.V, 1).numel())];
    ops.copyToHost(s.a(Proj.V, 1), vAll);
    int vRow = s.aRows(Proj.V)[0];
    int vIn = Proj.V.inDim(TestAdapters.TINY);
    assertArrayEquals(
        TestAdapters.factor(1, Proj.V, true, 3 * vIn),
        Arrays.copyOfRange(vAll, vRow * vIn, (vRow + 3) * vIn),
        "the filler's rows are intact after a was written beside them");
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
  void adaptersTakeTheirTrueRankInPagesSoSmallOnesFitWherePaddedSlotsWouldNot() {
    // q only, pages of 64 elements: a window for rank r has room for (r + 1) x 8 elements (a row
    // of padding), 3 pages at rank 16; the run then takes the pages its rows reach, 2 at rank 15
    // and at rank 16
    AdapterSlots s = pool(2);
    assertEquals(6, s.sharePages());
    assertEquals(3, s.pagesFor(16));
    assertEquals(2, s.pagesFor(8));
    for (int i = 0; i < 3; i++) {
      assertEquals(i, s.acquire(adapter("r15-" + i, 15, 15, Set.of(Proj.Q))));
      assertEquals((4 - 2 * i) * 64 / 8, s.aRows(Proj.Q)[i], "runs from the top page down");
    }
    assertEquals(3, s.residentCount(), "three of rank 15 in the pages of two of rank 16");
    assertEquals(6, s.usedPages());
    assertEquals(0, s.pool().freePages());
    s.release(1);
    s.release(2);
    LoraAdapter wide = adapter("r16", 16, 16, Set.of(Proj.Q));
    assertEquals(1, s.acquire(wide), "window 1-3: the two unpinned neighbours make one run");
    assertEquals(2 * 64 / 8, s.aRows(Proj.Q)[1], "rows 16-31 fill pages 2-3, the window's top");
    assertEquals(16, s.ranks(Proj.Q)[1]);
    assertEquals(Arrays.asList("r15-0", "r16", null, null), s.residents());
    assertEquals(2, s.evictions());
    assertEquals(2, s.pool().freePages(), "pages 0-1, r15-2's run, are left free");
  }

  @Test
  void aRunMustBeContiguousAndFreeOfPinnedAdapters() {
    AdapterSlots s = pool(2);
    for (int i = 0; i < 3; i++) {
      s.acquire(adapter("r15-" + i, 15, 15, Set.of(Proj.Q)));
    }
    s.release(0);
    s.release(2); // pages 4-5 and 0-1 unpinned, 2-3 pinned: no three neighbours free
    LoraAdapter wide = adapter("r16", 16, 16, Set.of(Proj.Q));
    assertTrue(!s.hasRoomFor("r16", wide));
    assertEquals(-1, s.acquire(wide));
    assertEquals(0, s.evictions(), "a failed acquire evicts nothing");
    LoraAdapter small = adapter("small", 3, 3, Set.of(Proj.Q));
    assertEquals(0, s.acquire(small), "rank 3 takes one page: in the least recently used run");
    assertEquals(5 * 64 / 8, s.aRows(Proj.Q)[0]);
    assertEquals(3, s.ranks(Proj.Q)[0]);
    assertEquals(1, s.pool().freePages(), "page 4 of r15-0's run is left free");
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
    assertEquals(-1, s.acquire(b), "a's pages are being written: not evictable");
    assertEquals(0, s.evictions());
    assertEquals(1, queued.size(), "b got no rows, so no write");
    queued.poll().run();
    assertEquals(-1, s.acquire(a), "written, but not settled yet: still being written");
    s.settleAll();
    assertEquals(0, s.acquire(a), "written and settled: pinned now");
    assertEquals(8, s.ranks(Proj.Q)[0]);
    assertEquals(0, s.filling());
    s.release(0);
    assertEquals(-1, s.acquire(b), "a evicted, b being written");
    assertEquals(1, s.evictions());
    assertTrue(s.invalidate("b"), "invalidated while written: freed when the write ends");
    queued.poll().run();
    s.settleAll();
    assertEquals(-1, s.acquire(a), "the freed pages are reserved for a again");
    assertEquals(0, s.residents().stream().filter("b"::equals).count());
  }

  /** Q-only adapters on a pool of 4 KV blocks plus the pages of 2 adapters of rank 16. */
  private AdapterSlots shared(KvCache kv) {
    return new AdapterSlots(ops, TestAdapters.TINY, kv, 2, 16, EnumSet.of(Proj.Q), Runnable::run);
  }

  private KvCache kv(int pages) {
    return new KvCache(ops, TestAdapters.TINY.numLayers(), pages, 16, 1, 4);
  }

  @Test
  void anAdapterTheRequestsNextInLineWantIsEvictedOnlyAfterTheOthers() {
    AdapterSlots s = slots(4); // four adapters resident at most
    LoraAdapter a = adapter("a", 2, 4, Set.of(Proj.Q));
    LoraAdapter b = adapter("b", 2, 4, Set.of(Proj.Q));
    LoraAdapter c = adapter("c", 2, 4, Set.of(Proj.Q));
    LoraAdapter d = adapter("d", 2, 4, Set.of(Proj.Q));
    LoraAdapter e = adapter("e", 2, 4, Set.of(Proj.Q));
    for (LoraAdapter x : List.of(a, b, c, d)) {
      s.release(s.acquire(x)); // a used first: the least recently used
    }
    s.wanted(Set.of("a", "b"));
    s.release(s.acquire(e));
    assertEquals(-1, s.slotOf("c"), "c, the least recently used adapter nobody waits for, went");
    assertTrue(s.slotOf("a") >= 0 && s.slotOf("b") >= 0);
    s.wanted(Set.of("a", "b", "d", "e"));
    s.release(s.acquire(c));
    assertEquals(-1, s.slotOf("a"), "every one wanted: the least recently used of them went");
    assertEquals(2, s.evictions());
  }

  @Test
  void kvBlocksTakeThePagesOfIdleAdaptersLeastRecentlyUsedFirstButNeverOfPinnedOrHotOnes() {
    KvCache kv = kv(4 + 6);
    AdapterSlots s = shared(kv);
    PagePool pool = kv.allocator();
    assertEquals(6, s.sharePages());
    s.hot(Set.of("hot"));
    assertEquals(0, s.acquire(adapter("hot", 15, 15, Set.of(Proj.Q)))); // pages 8-9
    assertEquals(1, s.acquire(adapter("old", 15, 15, Set.of(Proj.Q)))); // pages 6-7
    assertEquals(2, s.acquire(adapter("new", 15, 15, Set.of(Proj.Q)))); // pages 4-5
    s.release(0);
    s.release(1);
    s.release(2); // old used before new; hot stays
    assertEquals(4 + 2 + 2, pool.numFree(), "free pages and the pages of old and new");
    for (int b = 0; b < 4; b++) {
      assertEquals(b, pool.allocate(), "KV takes the free pages from the bottom");
    }
    assertEquals(
        6, pool.allocate(), "then evicts old, the least recently used, and takes its page");
    assertEquals(-1, s.slotOf("old"));
    assertEquals(1, s.evictions());
    assertEquals(7, pool.allocate());
    assertEquals(4, pool.allocate(), "then new");
    assertEquals(5, pool.allocate());
    assertEquals(-1, pool.allocate(), "hot is never evicted");
    assertEquals(0, s.slotOf("hot"));
    assertEquals(8, pool.kvPages());
    assertEquals(2, pool.adapterPages());
  }

  @Test
  void anAdapterWaitsWhileKvHoldsThePagesAndGetsThemWhenKvGivesThemBack() {
    KvCache kv = kv(3 + 6);
    AdapterSlots s = shared(kv);
    PagePool pool = kv.allocator();
    int[] blocks = new int[9];
    for (int b = 0; b < 9; b++) {
      blocks[b] = pool.allocate();
    }
    LoraAdapter a = adapter("a", 15, 15, Set.of(Proj.Q));
    assertTrue(!s.hasRoomFor("a", a));
    assertEquals(-1, s.acquire(a), "KV is never evicted for an adapter");
    pool.free(blocks[8]);
    assertEquals(-1, s.acquire(a), "one page free: rank 8 needs two in a row");
    pool.free(blocks[6]);
    assertEquals(-1, s.acquire(a), "pages 6 and 8 are free but not neighbours");
    pool.free(blocks[7]);
    assertEquals(0, s.acquire(a), "pages 7-8");
    assertEquals(7 * 64 / 8, s.aRows(Proj.Q)[0]);
    assertEquals(1, pool.freePages());
    assertEquals(6, pool.kvPages());
    s.release(0);
    assertThrows(IllegalStateException.class, () -> pool.free(7), "page 7 holds an adapter");
  }

  @Test
  void prefetchWritesIntoFreePagesOnlyWithoutPinningAndLeavesAnEighthOfThePoolToKv() {
    KvCache kv = kv(10 + 6); // 16 pages: prefetch keeps 2 free
    AdapterSlots s = shared(kv);
    PagePool pool = kv.allocator();
    LoraAdapter a = adapter("a", 15, 15, Set.of(Proj.Q));
    LoraAdapter b = adapter("b", 15, 15, Set.of(Proj.Q));
    assertTrue(s.prefetch("a", a));
    assertEquals(0, s.slotOf("a"));
    assertEquals(0, s.pins(0), "not pinned");
    assertTrue(!s.prefetch("a", a), "resident already");
    for (int i = 0; i < 11; i++) {
      pool.allocate(); // KV takes pages 0-10 of the 14 that a left free
    }
    assertEquals(3, pool.freePages());
    assertTrue(!s.prefetch("b", b), "3 free - 2 would leave fewer than 16 / 8 = 2");
    pool.allocate();
    pool.allocate();
    pool.allocate();
    assertEquals(0, pool.freePages());
    assertEquals(0, s.evictions(), "a prefetch evicts nothing");
    s.settleAll();
    assertEquals(0, s.acquire(a), "resident: pinned without a write");
    assertEquals(1, s.loads());
  }

  @Test
  void releasingAnUnpinnedSlotIsABug() {
    AdapterSlots s = slots(1);
    assertThrows(IllegalStateException.class, () -> s.release(0));
  }
}
