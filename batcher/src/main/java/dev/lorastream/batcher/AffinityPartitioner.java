package dev.lorastream.batcher;

import java.nio.charset.StandardCharsets;
import java.util.Optional;
import java.util.Set;
import org.apache.kafka.common.utils.Utils;
import org.apache.kafka.streams.processor.StreamPartitioner;

/**
 * Chooses the {@code lora.batches} partition of a batch by adapter affinity: {@code partition =
 * (home(affinityKey) + spreadSlot) % n}, with {@code home(a) = toPositive(murmur2(utf8(a))) % n}
 * (the Kafka default partitioner's hash of the key).
 *
 * <p>So every batch dominated by one adapter lands on one partition, hence one consumer, whose
 * adapter cache stays warm; the batches of a hot adapter rotate over {@code
 * batcher.affinity.spread} neighbouring partitions ({@link BatchProcessor} picks the slot), so one
 * popular adapter cannot pin all load on one GPU. A batch of base-model rows only (affinityKey
 * null) is routed by the hash of its batchId: load alone.
 *
 * <p>Residency: a batch at spread slot 0 goes instead to the nearest partition at or after its home
 * whose consumer says it holds the adapter ({@link ResidencyIndex#nearest}: backend pool first,
 * then host memory), which is home itself when home's owner holds it and home is not loaded past
 * its share (below). This keeps an adapter's batches where its weights are after the group's
 * partitions moved (a consumer joined, left or restarted) or after a spread loaded it on a
 * neighbour. Slots past 0 keep the hash rule: they exist to spread load, which following residency
 * would undo. Without a fresh record for the adapter the rule above holds unchanged.
 *
 * <p>Bounded load ({@link PartitionLoad}): a partition that already carries {@code
 * batcher.hash.balance.factor} percent of the mean work (tokens) per partition is full; a full
 * holder is not followed, and a batch whose partition is full goes to the next one that is not. So
 * hashing keeps adapters where their weights are while the load allows, and a consumer that joins
 * the group, holding no adapter yet, still gets its share. Among several holders of one tier (a hot
 * adapter loaded on a neighbour, or a small catalog that every consumer holds whole), the nearest
 * one below the mean is taken before the nearest one that is not full: moving a batch between two
 * holders costs no load, so there the work is balanced to the mean rather than to the factor (with
 * every adapter held everywhere, the factor alone let two consumers of four partitions split a
 * burst 55:45, {@code bench scale}). A backend-pool holder that is not full still beats a
 * host-memory holder below the mean: that one would have to load the adapter. Each batch moved to
 * another holder's partition, for residency or for balance, counts as rerouted; one moved off a
 * full partition to a partition chosen by the hash rule counts as bounded.
 */
final class AffinityPartitioner implements StreamPartitioner<String, RoutedBatch> {

  private final ResidencyIndex residency;
  private final PartitionLoad load;
  private final Runnable onRerouted;
  private final Runnable onBounded;

  /** Hash routing only. */
  AffinityPartitioner() {
    this(ResidencyIndex.NONE, () -> {});
  }

  /**
   * @param residency what the consumers hold
   * @param onRerouted told of each batch sent off its home partition because of residency
   */
  AffinityPartitioner(ResidencyIndex residency, Runnable onRerouted) {
    this(residency, PartitionLoad.NONE, onRerouted, () -> {});
  }

  /**
   * @param load the rows routed per partition and their bound
   * @param onBounded told of each batch moved off a full partition
   */
  AffinityPartitioner(
      ResidencyIndex residency, PartitionLoad load, Runnable onRerouted, Runnable onBounded) {
    this.residency = residency;
    this.load = load;
    this.onRerouted = onRerouted;
    this.onBounded = onBounded;
  }

  @Override
  public Optional<Set<Integer>> partitions(
      String topic, String batchId, RoutedBatch routed, int numPartitions) {
    PartitionLoad.View loads = load.view(numPartitions);
    int chosen = choose(batchId, routed, numPartitions, loads);
    int p = loads.bounded(chosen);
    if (p != chosen) {
      onBounded.run();
    }
    load.record(p, work(routed.batch()), numPartitions);
    return Optional.of(Set.of(p));
  }

  /**
   * What a batch asks of its consumer, in tokens: each row's prompt plus its maxTokens (a row of
   * 256 new tokens is 16 steps' work of one of 16).
   */
  static long work(dev.lorastream.schemas.InferenceBatch batch) {
    long w = 0;
    for (var r : batch.getRequests()) {
      w += r.getPromptTokenIds().size() + (long) r.getSampling().getMaxTokens();
    }
    return w;
  }

  private int choose(
      String batchId, RoutedBatch routed, int numPartitions, PartitionLoad.View loads) {
    String affinityKey = routed.batch().getAffinityKey();
    if (affinityKey == null) {
      return partition(batchId, 0, numPartitions);
    }
    int hashed = partition(affinityKey, routed.spreadSlot(), numPartitions);
    if (routed.spreadSlot() == 0) {
      int held = residency.nearest(affinityKey, hashed, numPartitions, loads);
      if (held >= 0 && held != hashed) {
        onRerouted.run();
        return held;
      }
    }
    return hashed;
  }

  /** The partition of a routing key and spread slot among {@code n} partitions. */
  static int partition(String routingKey, int spreadSlot, int n) {
    int home = Utils.toPositive(Utils.murmur2(routingKey.getBytes(StandardCharsets.UTF_8))) % n;
    return (home + spreadSlot) % n;
  }
}
