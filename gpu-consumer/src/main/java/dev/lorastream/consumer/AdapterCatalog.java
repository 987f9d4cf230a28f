package dev.lorastream.consumer;

import dev.lorastream.schemas.AdapterRecord;
import dev.lorastream.schemas.Topics;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * The adapter catalog: a live view of the compacted {@code lora.adapters} topic, read from the
 * beginning on a background thread (every partition assigned, no group). A tombstone removes an
 * adapter. Thread-safe.
 */
public final class AdapterCatalog implements AutoCloseable {
  private final Map<String, AdapterRecord> adapters = new ConcurrentHashMap<>();
  private final KafkaConsumer<String, AdapterRecord> consumer;
  private final Thread thread;
  private final CountDownLatch caughtUp = new CountDownLatch(1);
  private volatile boolean running = true;

  public AdapterCatalog(String bootstrap, Map<String, ?> serdeConfig) {
    this.consumer =
        new KafkaConsumer<>(
            Map.of(
                "bootstrap.servers",
                bootstrap,
                "enable.auto.commit",
                false,
                "isolation.level",
                "read_committed",
                "client.id",
                "lorastream-catalog"),
            new StringDeserializer(),
            Topics.ADAPTERS.valueSerde(serdeConfig).deserializer());
    this.thread = new Thread(this::run, "adapter-catalog");
    this.thread.setDaemon(true);
    this.thread.start();
  }

  /**
   * The adapter, waiting up to {@code timeout} for it to appear (the batcher may have seen it
   * first).
   */
  public AdapterRecord get(String adapterId, Duration timeout) throws InterruptedException {
    long end = System.nanoTime() + timeout.toNanos();
    AdapterRecord r;
    while ((r = adapters.get(adapterId)) == null && System.nanoTime() < end) {
      Thread.sleep(20);
    }
    return r;
  }

  /** Waits until everything that was in the topic at start has been read. */
  public boolean awaitCaughtUp(Duration timeout) throws InterruptedException {
    return caughtUp.await(timeout.toMillis(), TimeUnit.MILLISECONDS);
  }

  public int size() {
    return adapters.size();
  }

  private void run() {
    try {
      List<TopicPartition> parts =
          consumer.partitionsFor(Topics.ADAPTERS.name(), Duration.ofSeconds(30)).stream()
              .map(p -> new TopicPartition(p.topic(), p.partition()))
              .toList();
      consumer.assign(parts);
      consumer.seekToBeginning(parts);
      Map<TopicPartition, Long> end = consumer.endOffsets(parts);
      while (running) {
        for (ConsumerRecord<String, AdapterRecord> r : consumer.poll(Duration.ofMillis(200))) {
          if (r.value() == null) {
            adapters.remove(r.key());
          } else {
            adapters.put(r.key(), r.value());
          }
        }
        if (caughtUp.getCount() > 0
            && end.entrySet().stream()
                .allMatch(e -> consumer.position(e.getKey()) >= e.getValue())) {
          caughtUp.countDown();
        }
      }
    } catch (WakeupException e) {
      // closing
    } finally {
      consumer.close();
    }
  }

  @Override
  public void close() {
    running = false;
    consumer.wakeup();
    try {
      thread.join(5_000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
