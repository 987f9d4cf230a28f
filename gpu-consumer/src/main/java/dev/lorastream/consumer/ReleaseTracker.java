package dev.lorastream.consumer;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;

/**
 * The {@link PartitionProgress} of every partition this consumer owns: which batches it may take,
 * and what to commit in the next transaction (the finished requests of all partitions, each
 * partition's offset and answered-rows metadata). Rebuilt from the committed offsets and metadata
 * on assignment, so a new owner after a crash skips the rows already answered.
 *
 * <p>Not thread-safe: the consumer's poll thread owns it (the rebalance listener runs there too).
 */
final class ReleaseTracker {
  /**
   * What one transaction commits: the rows to write and the offsets to send with them.
   *
   * @param rows finished requests, partition by partition, in batch and row order
   * @param offsets each changed partition's offset and answered-rows metadata
   */
  record Release(
      List<PartitionProgress.Row> rows,
      Map<TopicPartition, OffsetAndMetadata> offsets,
      List<PartitionProgress> partitions) {}

  private final int maxMetadataBytes;
  private final Map<TopicPartition, PartitionProgress> partitions = new HashMap<>();
  // partition -> {offset, rows} of the batch refused for want of metadata room, until taken
  private final Map<TopicPartition, long[]> refused = new HashMap<>();

  /**
   * @param maxMetadataBytes the broker's {@code offset.metadata.max.bytes}: the longest
   *     answered-rows metadata a commit may carry
   */
  ReleaseTracker(int maxMetadataBytes) {
    this.maxMetadataBytes = maxMetadataBytes;
  }

  /**
   * {@code committed} (offset and metadata, or null for none) was read for the newly assigned
   * {@code tp}.
   */
  void assigned(TopicPartition tp, OffsetAndMetadata committed) {
    partitions.put(tp, PartitionProgress.restore(committed, maxMetadataBytes));
  }

  /**
   * Partitions revoked or lost: their unreleased work belongs to the next owner. Returns their
   * batches delivered to this consumer, whose unfinished requests are now wasted work.
   */
  List<InFlightBatch> removed(Collection<TopicPartition> tps) {
    List<InFlightBatch> dropped = new ArrayList<>();
    for (TopicPartition tp : tps) {
      PartitionProgress p = partitions.remove(tp);
      if (p != null) {
        dropped.addAll(p.inflight());
      }
      refused.remove(tp);
    }
    return dropped;
  }

  /**
   * Whether the batch of {@code rows} at {@code offset} of {@code tp} can be taken now without the
   * partition's metadata outgrowing the broker's limit.
   */
  boolean fits(TopicPartition tp, long offset, int rows) {
    return progress(tp).fits(offset, rows);
  }

  /**
   * The batch of {@code rows} at {@code offset} of {@code tp} did not {@link #fits fit}: the
   * consumer put it back and paused the partition until {@link #stillRefused} says otherwise.
   */
  void refuse(TopicPartition tp, long offset, int rows) {
    refused.put(tp, new long[] {offset, rows});
  }

  /** Whether {@code tp}'s refused batch still does not fit (false when none was refused). */
  boolean stillRefused(TopicPartition tp) {
    long[] at = refused.get(tp);
    return at != null && !fits(tp, at[0], (int) at[1]);
  }

  /** Takes a polled batch; returns its rows already answered (not to be computed again). */
  BitSet admit(TopicPartition tp, long offset, int rows) {
    refused.remove(tp);
    return progress(tp).admit(offset, rows);
  }

  void attach(InFlightBatch b) {
    progress(b.partition()).attach(b);
  }

  void skipped(TopicPartition tp, long offset) {
    progress(tp).skipped(offset);
  }

  /**
   * The next release: every finished request not yet released and the offsets that change; null
   * when there is nothing to commit. Its rows are releasing until {@link #committed} or {@link
   * #failed}.
   */
  Release next() {
    List<PartitionProgress.Row> rows = new ArrayList<>();
    Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
    List<PartitionProgress> involved = new ArrayList<>();
    for (var e : partitions.entrySet()) {
      PartitionProgress p = e.getValue();
      List<PartitionProgress.Row> taken = p.take();
      OffsetAndMetadata om = p.offsetToCommit();
      if (om != null) {
        rows.addAll(taken);
        offsets.put(e.getKey(), om);
        involved.add(p);
      }
    }
    return offsets.isEmpty() ? null : new Release(rows, offsets, involved);
  }

  /** {@code r}'s transaction committed. */
  void committed(Release r) {
    r.partitions().forEach(PartitionProgress::released);
  }

  /** {@code r}'s transaction did not commit: its rows wait for the next release. */
  void failed(Release r) {
    r.partitions().forEach(PartitionProgress::releaseFailed);
  }

  /** Batches with a request still being computed, over all partitions. */
  int generating() {
    int n = 0;
    for (PartitionProgress p : partitions.values()) {
      n += p.generating();
    }
    return n;
  }

  private PartitionProgress progress(TopicPartition tp) {
    PartitionProgress p = partitions.get(tp);
    if (p == null) {
      // guessing its progress could answer rows twice
      throw new IllegalStateException(tp + " is not assigned to this consumer (no progress read)");
    }
    return p;
  }
}
