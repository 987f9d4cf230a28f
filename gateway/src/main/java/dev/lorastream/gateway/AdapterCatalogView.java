package dev.lorastream.gateway;

import dev.lorastream.schemas.AdapterCatalogRule;
import dev.lorastream.schemas.AdapterRecord;
import dev.lorastream.schemas.Topics;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * The gateway's live view of the adapter catalog ({@code lora.adapters}), for {@code GET
 * /v1/models} and for refusing an unknown or another tenant's adapter before anything is sent. Read
 * from the beginning on a background thread (every partition assigned, no group, {@code
 * read_committed}), each record with {@link AdapterCatalogRule}, the rule of the batcher and the
 * consumers, so the gateway lists the adapters they accept. The batcher still checks every request:
 * an adapter registered a moment ago that this view has not read yet is answered 404 here, and an
 * adapter deleted a moment ago is refused by the batcher (mapped to 404 as well). A failed read is
 * logged and retried after a pause. Thread-safe.
 */
final class AdapterCatalogView implements AutoCloseable {
  private static final Duration RETRY = Duration.ofSeconds(1);

  private final Map<String, AdapterRecord> adapters = new ConcurrentHashMap<>();
  private final AdapterCatalogRule rule;
  private final KafkaConsumer<String, byte[]> consumer;
  private final Thread thread;
  private final CountDownLatch caughtUp = new CountDownLatch(1);
  private volatile boolean running = true;

  /**
   * @param kafka Kafka client settings ({@code bootstrap.servers} and any security settings)
   * @param serde the serde config ({@code schema.registry.url})
   */
  AdapterCatalogView(Map<String, Object> kafka, Map<String, ?> serde) {
    this.rule = AdapterCatalogRule.of(serde);
    Map<String, Object> config = new HashMap<>(kafka);
    config.put("enable.auto.commit", false);
    config.put("isolation.level", "read_committed");
    config.put("client.id", "lorastream-gateway-catalog");
    config.remove("group.id");
    this.consumer =
        new KafkaConsumer<>(config, new StringDeserializer(), new ByteArrayDeserializer());
    this.thread = Thread.ofPlatform().daemon().name("gateway-catalog").unstarted(this::run);
    this.thread.start();
  }

  /** The registered adapter {@code id}, if this view has read it. */
  Optional<AdapterRecord> get(String id) {
    return Optional.ofNullable(adapters.get(id));
  }

  /** Every registered adapter read so far. */
  List<AdapterRecord> all() {
    return List.copyOf(adapters.values());
  }

  /** Waits until the catalog as it was when the reader started has been read. */
  boolean awaitCaughtUp(Duration timeout) throws InterruptedException {
    return caughtUp.await(timeout.toMillis(), TimeUnit.MILLISECONDS);
  }

  /** Whether the reader thread runs. */
  boolean live() {
    return thread.isAlive();
  }

  private void run() {
    Map<TopicPartition, Long> end = null; // where the topic ended when the reader reached it
    Map<TopicPartition, Long> next = new HashMap<>(); // first offset not yet applied
    try {
      while (running) {
        try {
          if (end == null) {
            List<PartitionInfo> infos =
                consumer.partitionsFor(Topics.ADAPTERS.name(), Duration.ofSeconds(30));
            if (infos == null || infos.isEmpty()) {
              throw new IllegalStateException(
                  "topic " + Topics.ADAPTERS.name() + " does not exist or cannot be described");
            }
            List<TopicPartition> parts =
                infos.stream().map(p -> new TopicPartition(p.topic(), p.partition())).toList();
            consumer.assign(parts);
            consumer.seekToBeginning(parts);
            end = consumer.endOffsets(parts);
          }
          for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(200))) {
            apply(r);
            next.put(new TopicPartition(r.topic(), r.partition()), r.offset() + 1);
          }
          if (caughtUp.getCount() > 0
              && end.entrySet().stream()
                  .allMatch(e -> consumer.position(e.getKey()) >= e.getValue())) {
            caughtUp.countDown();
          }
        } catch (WakeupException e) {
          // close(): the loop ends on running == false
        } catch (RuntimeException e) {
          // read again from the first record not applied (the registry may have been unreachable)
          next.forEach(consumer::seek);
          System.err.println(
              "gateway: reading "
                  + Topics.ADAPTERS.name()
                  + " failed, retrying in "
                  + RETRY.toSeconds()
                  + " s: "
                  + e);
          try {
            Thread.sleep(RETRY);
          } catch (InterruptedException ie) {
            return;
          }
        }
      }
    } finally {
      consumer.close(Duration.ofSeconds(5));
    }
  }

  private void apply(ConsumerRecord<String, byte[]> r) {
    switch (rule.read(r.topic(), r.headers(), r.key(), r.value())) {
      case AdapterCatalogRule.Put put -> adapters.put(put.adapterId(), put.record());
      case AdapterCatalogRule.Delete del -> adapters.remove(del.adapterId());
      case AdapterCatalogRule.Skip skip -> {
        // the batcher dead-letters it; the gateway, like every reader, ignores it
      }
    }
  }

  @Override
  public void close() {
    running = false;
    consumer.wakeup();
    try {
      thread.join(10_000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
