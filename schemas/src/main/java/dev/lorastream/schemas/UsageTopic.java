package dev.lorastream.schemas;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * Reads {@link Topics#USAGE} and sums it: the consumers' restart ({@code UsageLedger}) and {@code
 * lorastream usage} read it the same way. A read takes the topic from its beginning to the end
 * offsets it had when reading started, read_committed (so only counts whose results were
 * committed), and keeps the latest record of each key, as compaction will.
 */
public final class UsageTopic {
  private UsageTopic() {}

  /** One tenant's totals over one adapter (null: the base model) since a time. */
  public record Total(
      String adapterId, long requests, long errors, long promptTokens, long completionTokens) {
    Total plus(TenantUsage u) {
      return new Total(
          adapterId,
          requests + u.getRequests(),
          errors + u.getErrors(),
          promptTokens + u.getPromptTokens(),
          completionTokens + u.getCompletionTokens());
    }
  }

  /**
   * Every key's latest committed record.
   *
   * @param kafka Kafka client settings: {@code bootstrap.servers} and any other (security)
   * @param serde the serde config ({@code schema.registry.url})
   * @throws IllegalStateException when the topic does not exist or is not read to its end within
   *     {@code timeout}
   */
  public static List<TenantUsage> read(
      Map<String, Object> kafka, Map<String, ?> serde, Duration timeout) {
    return read(Topics.USAGE.name(), kafka, serde, timeout);
  }

  /**
   * As {@link #read(Map, Map, Duration)}, from {@code topic}: {@code lora.usage} or a tenant's
   * {@code lora.tenant.<t>.usage}, which holds the same records of that tenant only.
   *
   * @throws org.apache.kafka.common.errors.TopicAuthorizationException when the principal may not
   *     read {@code topic}
   */
  public static List<TenantUsage> read(
      String topic, Map<String, Object> kafka, Map<String, ?> serde, Duration timeout) {
    Map<String, Object> config = new HashMap<>(kafka);
    config.put("enable.auto.commit", false);
    config.put("isolation.level", "read_committed");
    config.putIfAbsent("client.id", "lorastream-usage-reader");
    config.remove("group.id");
    Map<String, TenantUsage> latest = new LinkedHashMap<>();
    try (KafkaConsumer<String, TenantUsage> c =
        new KafkaConsumer<>(
            config, new StringDeserializer(), Topics.USAGE.valueSerde(serde).deserializer())) {
      List<PartitionInfo> infos = c.partitionsFor(topic, timeout);
      if (infos == null || infos.isEmpty()) {
        throw new IllegalStateException(
            topic.equals(Topics.USAGE.name()) ? missing() : "topic " + topic + " does not exist");
      }
      List<TopicPartition> parts =
          infos.stream().map(p -> new TopicPartition(p.topic(), p.partition())).toList();
      c.assign(parts);
      c.seekToBeginning(parts);
      Map<TopicPartition, Long> end = c.endOffsets(parts, timeout); // the LSO: read_committed
      long deadline = System.nanoTime() + timeout.toNanos();
      while (!parts.stream().allMatch(p -> c.position(p) >= end.get(p))) {
        if (System.nanoTime() > deadline) {
          throw new IllegalStateException(
              "could not read "
                  + topic
                  + " to its end offsets "
                  + end
                  + " within "
                  + timeout.toSeconds()
                  + " s");
        }
        for (ConsumerRecord<String, TenantUsage> r : c.poll(Duration.ofMillis(200))) {
          if (r.key() == null) {
            continue;
          }
          if (r.value() == null) {
            latest.remove(r.key());
          } else {
            latest.put(r.key(), r.value());
          }
        }
      }
    }
    return new ArrayList<>(latest.values());
  }

  /**
   * {@code tenant}'s totals per adapter over the windows that start at or after {@code sinceMs}
   * rounded down to its window, summed over consumers, sorted by adapter (the base model first).
   */
  public static List<Total> totals(List<TenantUsage> usage, String tenant, long sinceMs) {
    long from = UsageKey.windowStart(sinceMs);
    Map<String, Total> byAdapter = new TreeMap<>();
    for (TenantUsage u : usage) {
      if (u.getTenantId().equals(tenant) && u.getWindowStartEpochMs() >= from) {
        String a = u.getAdapterId() == null ? "" : u.getAdapterId();
        byAdapter.put(
            a, byAdapter.getOrDefault(a, new Total(u.getAdapterId(), 0, 0, 0, 0)).plus(u));
      }
    }
    return List.copyOf(byAdapter.values());
  }

  /** What to do when the topic is not there. */
  public static String missing() {
    return "topic "
        + Topics.USAGE.name()
        + " does not exist; create it compacted first (the demo and docker compose's topics job do;"
        + " kafka-topics.sh --create --topic "
        + Topics.USAGE.name()
        + " --partitions 1 --config cleanup.policy=compact)";
  }
}
