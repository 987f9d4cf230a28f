package dev.lorastream.cli;

import dev.lorastream.schemas.AdapterCatalogRule;
import dev.lorastream.schemas.AdapterRecord;
import dev.lorastream.schemas.Topics;
import java.time.Duration;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The {@code lora.adapters} topic as {@code lorastream adapters} sees it: read once from the
 * beginning to the end offsets it had when reading started, each record read with {@link
 * AdapterCatalogRule} (the rule of the batcher and the consumers, so the command sees the adapters
 * they see), and written one record at a time by an idempotent producer with {@code acks=all}.
 */
final class AdapterTopic {
  /** How long to wait for the topic's partitions, and for the rest of one read. */
  static final Duration TIMEOUT = Duration.ofSeconds(30);

  private final Map<String, Object> kafka;
  private final Map<String, ?> serde;

  /**
   * @param kafka Kafka client settings: {@code bootstrap.servers} and any other (security)
   * @param serde the serde config ({@code schema.registry.url})
   */
  AdapterTopic(Map<String, Object> kafka, Map<String, ?> serde) {
    this.kafka = Map.copyOf(kafka);
    this.serde = Map.copyOf(serde);
  }

  /**
   * The registered adapters, sorted by id.
   *
   * @param skipped records the rule skipped (undecodable, no key, key mismatch, blank source)
   */
  record Snapshot(SortedMap<String, AdapterRecord> adapters, int skipped) {
    Snapshot {
      adapters = Collections.unmodifiableSortedMap(new TreeMap<>(adapters));
    }
  }

  /** Where a record was written. */
  record Written(String topic, int partition, long offset) {
    @Override
    public String toString() {
      return topic + " partition " + partition + " offset " + offset;
    }
  }

  /**
   * Reads the whole topic, as it was when reading started.
   *
   * @throws IllegalStateException when the topic does not exist or is not read to its end within
   *     {@link #TIMEOUT}
   */
  Snapshot read() {
    AdapterCatalogRule rule = AdapterCatalogRule.of(serde);
    Map<String, Object> config = new HashMap<>(kafka);
    config.putAll(
        Map.of(
            "enable.auto.commit", false,
            "isolation.level", "read_committed",
            "client.id", "lorastream-adapters"));
    Map<String, AdapterRecord> adapters = new HashMap<>();
    int skipped = 0;
    try (KafkaConsumer<String, byte[]> c =
        new KafkaConsumer<>(config, new StringDeserializer(), new ByteArrayDeserializer())) {
      List<TopicPartition> parts = partitions(c);
      c.assign(parts);
      c.seekToBeginning(parts);
      Map<TopicPartition, Long> end = c.endOffsets(parts);
      long deadline = System.nanoTime() + TIMEOUT.toNanos();
      while (!atEnd(c, end)) {
        if (System.nanoTime() > deadline) {
          throw new IllegalStateException(
              "could not read "
                  + Topics.ADAPTERS.name()
                  + " to its end offsets "
                  + end
                  + " within "
                  + TIMEOUT.toSeconds()
                  + " s");
        }
        for (ConsumerRecord<String, byte[]> r : c.poll(Duration.ofMillis(200))) {
          switch (rule.read(r.topic(), r.headers(), r.key(), r.value())) {
            case AdapterCatalogRule.Put put -> adapters.put(put.adapterId(), put.record());
            case AdapterCatalogRule.Delete del -> adapters.remove(del.adapterId());
            case AdapterCatalogRule.Skip skip -> skipped++;
          }
        }
      }
    }
    return new Snapshot(new TreeMap<>(adapters), skipped);
  }

  /**
   * Writes {@code value} (null: a tombstone) under key {@code adapterId}, waits for the broker's
   * acknowledgement, and closes the producer.
   */
  Written write(String adapterId, AdapterRecord value)
      throws ExecutionException, InterruptedException {
    Map<String, Object> config = new HashMap<>(kafka);
    config.putAll(
        Map.of(
            "enable.idempotence",
            true,
            "acks",
            "all",
            "client.id",
            "lorastream-adapters",
            "max.block.ms",
            TIMEOUT.toMillis()));
    try (KafkaProducer<String, AdapterRecord> p =
        new KafkaProducer<>(
            config, new StringSerializer(), Topics.ADAPTERS.valueSerde(serde).serializer())) {
      RecordMetadata m =
          p.send(new ProducerRecord<>(Topics.ADAPTERS.name(), adapterId, value)).get();
      p.flush();
      return new Written(m.topic(), m.partition(), m.offset());
    }
  }

  private static List<TopicPartition> partitions(KafkaConsumer<?, ?> c) {
    List<PartitionInfo> infos = c.partitionsFor(Topics.ADAPTERS.name(), TIMEOUT);
    if (infos == null || infos.isEmpty()) {
      throw new IllegalStateException(
          "topic "
              + Topics.ADAPTERS.name()
              + " does not exist; create it compacted first (docker compose's topics job, or"
              + " kafka-topics.sh --create --topic "
              + Topics.ADAPTERS.name()
              + " --partitions 1 --config cleanup.policy=compact)");
    }
    return infos.stream().map(p -> new TopicPartition(p.topic(), p.partition())).toList();
  }

  private static boolean atEnd(KafkaConsumer<?, ?> c, Map<TopicPartition, Long> end) {
    return end.entrySet().stream().allMatch(e -> c.position(e.getKey()) >= e.getValue());
  }
}
