package dev.lorastream.consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.devstack.TestKafkaCluster;
import java.time.Duration;
import java.util.Collection;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.Test;

/**
 * The batch consumer's group settings ({@link InferenceConsumer#consumerConfig}) make it a static
 * member: a consumer that died without leaving (SIGKILL) and starts again under the same id gets
 * its partitions back at once, while the other member keeps its own untouched; as a dynamic member
 * it would wait for the dead member's session to time out (45 s) and make the other give up its
 * partitions in the rebalance that follows.
 */
class ConsumerRestartMembershipTest {
  private static final String TOPIC = "membership-batches";

  @Test
  void aConsumerRestartedUnderItsIdGetsItsPartitionsBackWithoutDisturbingTheOther()
      throws Exception {
    try (TestKafkaCluster broker = TestKafkaCluster.start()) {
      broker.createTopic(TOPIC, 2, Map.of());
      AtomicInteger revokedFromB = new AtomicInteger();
      try (KafkaConsumer<String, String> b = member(broker, "b")) {
        b.subscribe(Set.of(TOPIC), countingRevocations(revokedFromB));
        KafkaConsumer<String, String> a = member(broker, "a");
        a.subscribe(Set.of(TOPIC));
        Map<String, Set<TopicPartition>> owned =
            pollUntilBothOwnOne(Map.of("a", a, "b", b), Duration.ofSeconds(60));
        // a dies: it neither leaves the group nor heartbeats any more
        a.close(
            CloseOptions.groupMembershipOperation(
                CloseOptions.GroupMembershipOperation.REMAIN_IN_GROUP));
        int revokedBefore = revokedFromB.get();
        long t0 = System.nanoTime();
        try (KafkaConsumer<String, String> again = member(broker, "a")) {
          again.subscribe(Set.of(TOPIC));
          Map<String, Set<TopicPartition>> after =
              pollUntilBothOwnOne(Map.of("a", again, "b", b), Duration.ofSeconds(30));
          long ms = (System.nanoTime() - t0) / 1_000_000;
          assertEquals(owned, after, "each member owns what it owned before the restart");
          assertEquals(revokedBefore, revokedFromB.get(), "b gave up nothing");
          assertTrue(ms < 30_000, "back after " + ms + " ms, not after a session timeout");
        }
      }
    }
  }

  private static KafkaConsumer<String, String> member(TestKafkaCluster broker, String id) {
    ConsumerSettings s =
        ConsumerSettings.from(
            Map.of(
                ConsumerSettings.BOOTSTRAP,
                broker.bootstrapServers(),
                ConsumerSettings.REGISTRY,
                "mock://membership",
                ConsumerSettings.MODEL,
                "unused",
                ConsumerSettings.ID,
                id));
    Map<String, Object> config = new HashMap<>(InferenceConsumer.consumerConfig(s));
    return new KafkaConsumer<>(config, new StringDeserializer(), new StringDeserializer());
  }

  private static ConsumerRebalanceListener countingRevocations(AtomicInteger revoked) {
    return new ConsumerRebalanceListener() {
      @Override
      public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
        revoked.addAndGet(partitions.size());
      }

      @Override
      public void onPartitionsAssigned(Collection<TopicPartition> partitions) {}
    };
  }

  /** Polls every member in turn until each owns one partition; returns who owns what. */
  private static Map<String, Set<TopicPartition>> pollUntilBothOwnOne(
      Map<String, KafkaConsumer<String, String>> members, Duration timeout) {
    long end = System.nanoTime() + timeout.toNanos();
    while (System.nanoTime() < end) {
      Map<String, Set<TopicPartition>> owned = new HashMap<>();
      for (var e : members.entrySet()) {
        e.getValue().poll(Duration.ofMillis(100));
        owned.put(e.getKey(), e.getValue().assignment());
      }
      if (owned.values().stream().allMatch(p -> p.size() == 1)) {
        return owned;
      }
    }
    throw new AssertionError("members did not each get one partition within " + timeout);
  }
}
