package dev.lorastream.batcher;

import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Predicate;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ListConsumerGroupOffsetsSpec;
import org.apache.kafka.clients.admin.ListOffsetsOptions;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.streams.KafkaStreams;

/**
 * Asks the cluster whether this instance's {@code lora.requests} partitions (those of its active
 * tasks) have input that its consumer group has not committed: the end offset (read_committed)
 * above the committed offset, or above the earliest offset where nothing was committed yet. Two or
 * three Admin round trips per call; for {@link StreamHealth}.
 *
 * <p>While no stream thread holds an active task (a replaced thread waiting for its assignment),
 * the partitions it held last are asked about, so that a thread failing at one record, replaced and
 * failing again, does not look idle in between. Called from one thread at a time.
 */
final class PendingInput {

  private static final long TIMEOUT_MS = 5000;

  private final Admin admin;
  private final String groupId;
  private final Predicate<String> isInput;
  private volatile Set<TopicPartition> lastKnown = Set.of();

  /**
   * @param groupId the Kafka Streams {@code application.id}
   * @param isInput whether a topic is one of the request topics ({@code lora.requests}, or in
   *     topics mode every {@code lora.tenant.<t>.requests})
   */
  PendingInput(Admin admin, String groupId, Predicate<String> isInput) {
    this.admin = admin;
    this.groupId = groupId;
    this.isInput = isInput;
  }

  /**
   * The lag of each of this instance's {@code lora.requests} partitions that has any, as {@code
   * partition -> records}; empty when nothing is pending.
   *
   * @throws IllegalStateException when the cluster cannot be asked (the caller keeps what it knew)
   */
  Map<TopicPartition, Long> lag(KafkaStreams streams) {
    Set<TopicPartition> mine =
        streams.metadataForLocalThreads().stream()
            .flatMap(thread -> thread.activeTasks().stream())
            .flatMap(task -> task.topicPartitions().stream())
            .filter(tp -> isInput.test(tp.topic()))
            .collect(Collectors.toSet());
    if (mine.isEmpty()) {
      mine = lastKnown;
    } else {
      lastKnown = mine;
    }
    if (mine.isEmpty()) {
      return Map.of();
    }
    try {
      Map<TopicPartition, OffsetAndMetadata> committed =
          admin
              .listConsumerGroupOffsets(
                  Map.of(groupId, new ListConsumerGroupOffsetsSpec().topicPartitions(mine)))
              .partitionsToOffsetAndMetadata(groupId)
              .get(TIMEOUT_MS, TimeUnit.MILLISECONDS);
      Map<TopicPartition, Long> from = new HashMap<>();
      Map<TopicPartition, OffsetSpec> never = new HashMap<>();
      for (TopicPartition tp : mine) {
        OffsetAndMetadata c = committed.get(tp);
        if (c == null) {
          never.put(tp, OffsetSpec.earliest());
        } else {
          from.put(tp, c.offset());
        }
      }
      if (!never.isEmpty()) {
        admin
            .listOffsets(never)
            .all()
            .get(TIMEOUT_MS, TimeUnit.MILLISECONDS)
            .forEach((tp, info) -> from.put(tp, info.offset()));
      }
      Map<TopicPartition, OffsetSpec> latest =
          mine.stream().collect(Collectors.toMap(tp -> tp, tp -> OffsetSpec.latest()));
      Map<TopicPartition, Long> lag =
          new TreeMap<>(
              (a, b) ->
                  a.topic().equals(b.topic())
                      ? Integer.compare(a.partition(), b.partition())
                      : a.topic().compareTo(b.topic()));
      admin
          .listOffsets(latest, new ListOffsetsOptions(IsolationLevel.READ_COMMITTED))
          .all()
          .get(TIMEOUT_MS, TimeUnit.MILLISECONDS)
          .forEach(
              (tp, end) -> {
                long behind = end.offset() - from.getOrDefault(tp, end.offset());
                if (behind > 0) {
                  lag.put(tp, behind);
                }
              });
      return lag;
    } catch (ExecutionException | TimeoutException e) {
      throw new IllegalStateException(
          "cannot read the offsets of " + mine + " for group " + groupId + ": " + e, e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    }
  }
}
