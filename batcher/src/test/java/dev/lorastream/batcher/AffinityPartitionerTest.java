package dev.lorastream.batcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.schemas.ConsumerResidency;
import dev.lorastream.schemas.FlushReason;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class AffinityPartitionerTest {

  static final int ROW_WORK = 256;

  final AffinityPartitioner partitioner = new AffinityPartitioner();

  private int route(String adapter, String batchId, int slot, int n) {
    return route(partitioner, adapter, batchId, slot, n);
  }

  private static int route(
      AffinityPartitioner partitioner, String adapter, String batchId, int slot, int n) {
    // one row of 256 tokens of work (4 prompt, 252 new): the bound starts after 8 such batches
    var batch =
        Batches.build(
            batchId,
            List.of(Harness.request("r", adapter, 4, ROW_WORK - 4)),
            FlushReason.MAX_WAIT,
            0);
    Optional<Set<Integer>> p =
        partitioner.partitions("lora.batches", batchId, new RoutedBatch(batch, slot), n);
    assertEquals(1, p.orElseThrow().size(), "one partition, never a broadcast");
    return p.get().iterator().next();
  }

  @Test
  void sameAdapterSamePartitionWhateverTheBatch() {
    int home = route("sql-expert", "t-1", 0, 12);
    for (int i = 2; i < 20; i++) {
      assertEquals(home, route("sql-expert", "t-" + i, 0, 12));
    }
  }

  @Test
  void spreadSlotOffsetsFromHomeAndWraps() {
    int n = 4;
    int home = AffinityPartitioner.partition("poet", 0, n);
    for (int k = 0; k < 6; k++) {
      assertEquals((home + k) % n, route("poet", "b", k, n));
    }
  }

  @Test
  void adaptersSpreadOverPartitions() {
    Set<Integer> used = new HashSet<>();
    for (int i = 0; i < 64; i++) {
      used.add(route("adapter-" + i, "b", 0, 8));
    }
    assertEquals(8, used.size(), "64 adapters reach all 8 partitions");
  }

  @Test
  void baseModelBatchesAreRoutedByBatchId() {
    Set<Integer> used = new HashSet<>();
    for (int i = 0; i < 64; i++) {
      used.add(route(null, "0_0-" + i, 0, 8));
    }
    assertTrue(used.size() > 4, "load alone: base-model batches spread out, got " + used);
    assertEquals(AffinityPartitioner.partition("0_0-3", 0, 8), route(null, "0_0-3", 0, 8));
  }

  private static ConsumerResidency holds(
      String consumer, List<Integer> partitions, List<String> backend, long publishedMs) {
    return ConsumerResidency.newBuilder()
        .setConsumerId(consumer)
        .setBatchPartitions(partitions)
        .setBackendAdapters(backend)
        .setHostAdapters(List.of())
        .setPublishedEpochMs(publishedMs)
        .build();
  }

  @Test
  void aBatchGoesToTheConsumerHoldingItsAdapterAndIsCounted() {
    int n = 8;
    int home = AffinityPartitioner.partition("poet", 0, n);
    ResidencyIndex index = new ResidencyIndex(5_000, () -> 10_000);
    AtomicInteger rerouted = new AtomicInteger();
    AffinityPartitioner p = new AffinityPartitioner(index, rerouted::incrementAndGet);
    assertEquals(home, route(p, "poet", "b", 0, n), "nobody holds it: home");
    index.update("gpu-1", holds("gpu-1", List.of((home + 3) % n), List.of("poet"), 9_000));
    assertEquals((home + 3) % n, route(p, "poet", "b", 0, n));
    assertEquals(1, rerouted.get());
    index.update("gpu-0", holds("gpu-0", List.of(home), List.of("poet"), 9_000));
    assertEquals(home, route(p, "poet", "b", 0, n), "home's owner holds it too: home");
    assertEquals(1, rerouted.get(), "staying home is no reroute");
  }

  @Test
  void spreadSlotsPastZeroKeepTheHashRule() {
    int n = 8;
    int home = AffinityPartitioner.partition("poet", 0, n);
    ResidencyIndex index = new ResidencyIndex(5_000, () -> 10_000);
    index.update("gpu-1", holds("gpu-1", List.of((home + 5) % n), List.of("poet"), 9_000));
    AffinityPartitioner p = new AffinityPartitioner(index, () -> {});
    assertEquals((home + 5) % n, route(p, "poet", "b", 0, n));
    assertEquals((home + 1) % n, route(p, "poet", "b", 1, n));
  }

  @Test
  void baseModelBatchesIgnoreResidency() {
    ResidencyIndex index = new ResidencyIndex(5_000, () -> 10_000);
    index.update("gpu-1", holds("gpu-1", List.of(0, 1, 2, 3), List.of("0_0-3"), 9_000));
    AffinityPartitioner p = new AffinityPartitioner(index, () -> {});
    assertEquals(AffinityPartitioner.partition("0_0-3", 0, 8), route(p, null, "0_0-3", 0, 8));
  }

  @Test
  void aFullHolderIsPassedOverSoThatAJoinedConsumerGetsWork() {
    int n = 4;
    String onOld = adapterHomedIn(Set.of(0), n);
    String onNew = adapterHomedIn(Set.of(2), n);
    ResidencyIndex index = new ResidencyIndex(5_000, () -> 10_000);
    // gpu-0 served alone and holds both; gpu-1 joined, took partitions 2 and 3, holds nothing
    index.update("gpu-0", holds("gpu-0", List.of(0, 1), List.of(onOld, onNew), 9_000));
    index.update("gpu-1", holds("gpu-1", List.of(2, 3), List.of(), 9_000));
    AffinityPartitioner p = bounded(index, () -> 10_000); // no time passes: no decay
    int[] rows = new int[n];
    for (int i = 0; i < 200; i++) {
      int to = route(p, i % 2 == 0 ? onOld : onNew, "b" + i, 0, n);
      if (i < PartitionLoad.MIN_WORK / ROW_WORK) {
        assertEquals(0, to, "below the minimum load the holder is followed: batch " + i);
      }
      rows[to]++;
    }
    // no partition over 1.25 x the mean (50 batches) by more than the batch that crossed it
    for (int r : rows) {
      assertTrue(r <= 63, java.util.Arrays.toString(rows));
    }
    assertTrue(rows[2] + rows[3] >= 70, "the joined consumer's share: " + rows[2] + rows[3]);
  }

  @Test
  void whenEveryConsumerHoldsEveryAdapterABurstIsSplitToTheMeanNotToTheFactor() {
    int n = 4;
    ResidencyIndex index = new ResidencyIndex(5_000, () -> 10_000);
    List<String> adapters = java.util.stream.IntStream.range(0, 12).mapToObj(i -> "a" + i).toList();
    index.update("gpu-0", holds("gpu-0", List.of(0, 1), adapters, 9_000));
    index.update("gpu-1", holds("gpu-1", List.of(2, 3), adapters, 9_000));
    AffinityPartitioner p = bounded(index, () -> 10_000);
    int[] rows = new int[n];
    for (int i = 0; i < 400; i++) {
      rows[route(p, adapters.get(i % 12), "b" + i, 0, n)]++;
    }
    // past the minimum work (8 batches) a batch goes to a holder below the mean: the partitions
    // end within one batch of each other, not 25 % apart
    int max = java.util.Arrays.stream(rows).max().orElseThrow();
    int min = java.util.Arrays.stream(rows).min().orElseThrow();
    assertTrue(max - min <= 1, java.util.Arrays.toString(rows));
  }

  @Test
  void aHolderAboveTheMeanKeepsItsAdapterWhileNoOtherConsumerHoldsIt() {
    int n = 4;
    String adapter = adapterHomedIn(Set.of(0), n);
    ResidencyIndex index = new ResidencyIndex(5_000, () -> 10_000);
    index.update("gpu-0", holds("gpu-0", List.of(0, 1), List.of(adapter), 9_000));
    index.update("gpu-1", holds("gpu-1", List.of(2, 3), List.of(), 9_000));
    AffinityPartitioner p = bounded(index, () -> 10_000);
    int[] rows = new int[n];
    for (int i = 0; i < 40; i++) {
      rows[route(p, adapter, "b" + i, 0, n)]++;
    }
    // past the minimum work the holder's two partitions take turns while one is below the mean, and
    // while both are full (1.25 x the running mean) the batch goes to the next partition that is
    // not: the holder keeps 25 of 40, its neighbour p2 takes the overflow first
    assertEquals(List.of(13, 12, 12, 3), java.util.Arrays.stream(rows).boxed().toList());
  }

  @Test
  void aPoolHolderThatIsNotFullBeatsAHostMemoryHolderBelowTheMean() {
    int n = 4;
    String adapter = adapterHomedIn("x-", Set.of(0), n);
    ResidencyIndex index = new ResidencyIndex(5_000, () -> 10_000);
    index.update("gpu-0", holds("gpu-0", List.of(0), List.of(adapter), 9_000));
    index.update(
        "gpu-1",
        ConsumerResidency.newBuilder(holds("gpu-1", List.of(2), List.of(), 9_000))
            .setHostAdapters(List.of(adapter))
            .build());
    Counted c = counted(index);
    AffinityPartitioner p = c.partitioner();
    // 9 batches on each partition (adapters nobody holds), then one more on 0: partition 0 is
    // above the mean (9.25) and below the factor's bound (11.6); 2 is below the mean
    for (int i = 0; i < 37; i++) {
      int k = i < 36 ? i % n : 0;
      assertEquals(k, route(p, adapterHomedIn("y-", Set.of(k), n), "f" + i, 0, n));
    }
    assertEquals(0, route(p, adapter, "b", 0, n), "the pool holder: the host holder must load it");
    assertEquals(0, c.rerouted().get());
    assertEquals(0, c.moved().get());
  }

  @Test
  void aFullHomeGoesToAnotherHolderBeforeTheNextPartition() {
    int n = 4;
    String adapter = adapterHomedIn("x-", Set.of(0), n);
    ResidencyIndex index = new ResidencyIndex(5_000, () -> 10_000);
    index.update("gpu-0", holds("gpu-0", List.of(0), List.of(adapter), 9_000));
    index.update("gpu-1", holds("gpu-1", List.of(2), List.of(adapter), 9_000));
    index.update("gpu-2", holds("gpu-2", List.of(1, 3), List.of(), 9_000));
    Counted c = counted(index);
    AffinityPartitioner p = c.partitioner();
    for (int i = 0; i < 8; i++) { // below the minimum work: home, its owner holds it
      assertEquals(0, route(p, adapter, "b" + i, 0, n));
    }
    // home is full now (8 of 8 batches); partition 1 is next, but 2's owner holds the adapter
    assertEquals(2, route(p, adapter, "b8", 0, n));
    assertEquals(1, c.rerouted().get());
    assertEquals(
        0, c.moved().get(), "moved to a holder, not off a full partition by the hash rule");
  }

  @Test
  void oneHotAdapterFillsItsHomeToTheFactorThenItsNeighbours() {
    int n = 4;
    AffinityPartitioner p = bounded(ResidencyIndex.NONE, () -> 10_000);
    int home = AffinityPartitioner.partition("poet", 0, n);
    int[] rows = new int[n];
    for (int i = 0; i < 400; i++) {
      rows[route(p, "poet", "b" + i, 0, n)]++;
    }
    // each at most 1.25 x the mean of 100 (plus the batch that crossed it); home first, then
    // its neighbours in turn: every partition gets some
    for (int k = 0; k < n; k++) {
      assertTrue(rows[k] > 0 && rows[k] <= 126, java.util.Arrays.toString(rows));
    }
    assertEquals(125, rows[home], java.util.Arrays.toString(rows));
  }

  @Test
  void theRowCountsDecaySoThatAfterAQuietMinuteTheHashRulesAgain() {
    int n = 4;
    java.util.concurrent.atomic.AtomicLong now = new java.util.concurrent.atomic.AtomicLong(10_000);
    AffinityPartitioner p = bounded(ResidencyIndex.NONE, now::get);
    int home = AffinityPartitioner.partition("poet", 0, n);
    for (int i = 0; i < 40; i++) {
      route(p, "poet", "b" + i, 0, n);
    }
    assertNotEquals(home, route(p, "poet", "x", 0, n), "home is full: a neighbour");
    now.addAndGet(60_000); // six half-lives: 40 batches count as less than the minimum work
    assertEquals(home, route(p, "poet", "y", 0, n), "a quiet minute later: home again");
  }

  private static AffinityPartitioner bounded(
      ResidencyIndex index, java.util.function.LongSupplier clock) {
    return new AffinityPartitioner(index, new PartitionLoad(1.25, clock), () -> {}, () -> {});
  }

  /** A bounded partitioner (no time passes) and its counts of rerouted and bounded batches. */
  private record Counted(
      AffinityPartitioner partitioner, AtomicInteger rerouted, AtomicInteger moved) {}

  private static Counted counted(ResidencyIndex index) {
    AtomicInteger rerouted = new AtomicInteger();
    AtomicInteger moved = new AtomicInteger();
    return new Counted(
        new AffinityPartitioner(
            index,
            new PartitionLoad(1.25, () -> 10_000),
            rerouted::incrementAndGet,
            moved::incrementAndGet),
        rerouted,
        moved);
  }

  private static String adapterHomedIn(Set<Integer> partitions, int n) {
    return adapterHomedIn("adapter-", partitions, n);
  }

  private static String adapterHomedIn(String prefix, Set<Integer> partitions, int n) {
    for (int i = 0; ; i++) {
      if (partitions.contains(AffinityPartitioner.partition(prefix + i, 0, n))) {
        return prefix + i;
      }
    }
  }
}
