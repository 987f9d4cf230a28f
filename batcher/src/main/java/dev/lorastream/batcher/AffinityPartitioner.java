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
 * <p>Pure and stateless; the partition count comes from the producer's metadata.
 */
final class AffinityPartitioner implements StreamPartitioner<String, RoutedBatch> {

  @Override
  public Optional<Set<Integer>> partitions(
      String topic, String batchId, RoutedBatch routed, int numPartitions) {
    String affinityKey = routed.batch().getAffinityKey();
    return Optional.of(
        Set.of(
            partition(
                affinityKey == null ? batchId : affinityKey, routed.spreadSlot(), numPartitions)));
  }

  /** The partition of a routing key and spread slot among {@code n} partitions. */
  static int partition(String routingKey, int spreadSlot, int n) {
    int home = Utils.toPositive(Utils.murmur2(routingKey.getBytes(StandardCharsets.UTF_8))) % n;
    return (home + spreadSlot) % n;
  }
}
