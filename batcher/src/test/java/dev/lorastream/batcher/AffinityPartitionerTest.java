package dev.lorastream.batcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.schemas.FlushReason;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;

class AffinityPartitionerTest {

  final AffinityPartitioner partitioner = new AffinityPartitioner();

  private int route(String adapter, String batchId, int slot, int n) {
    var batch =
        Batches.build(batchId, List.of(Harness.request("r", adapter)), FlushReason.MAX_WAIT, 0);
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
}
