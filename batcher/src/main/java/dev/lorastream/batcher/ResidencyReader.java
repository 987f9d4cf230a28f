package dev.lorastream.batcher;

import dev.lorastream.schemas.ConsumerResidency;
import dev.lorastream.schemas.Topics;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.RecordDeserializationException;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * Reads all of {@code lora.residency} into a {@link ResidencyIndex}, from the beginning and then as
 * it grows, on its own thread: a plain consumer with no group (every batcher reads every record,
 * and nothing is committed), so the index is the same in every batcher replica a moment after each
 * record. An undecodable record is skipped and counted; the loop ends at {@link #close}.
 *
 * <p>Not a Kafka Streams global store: the index is a routing hint that needs no restore, no
 * changelog and no exactly-once, and keeping it outside the topology keeps the stream threads from
 * ever waiting on it.
 */
final class ResidencyReader implements Runnable, AutoCloseable {
  private static final System.Logger LOG = System.getLogger(ResidencyReader.class.getName());

  private final Consumer<String, ConsumerResidency> consumer;
  private final ResidencyIndex index;
  private final BatcherMetrics metrics;
  private final Thread thread;
  private volatile boolean running = true;
  private boolean started;

  ResidencyReader(
      Consumer<String, ConsumerResidency> consumer, ResidencyIndex index, BatcherMetrics metrics) {
    this.consumer = consumer;
    this.index = index;
    this.metrics = metrics;
    this.thread = new Thread(this, "batcher-residency");
    this.thread.setDaemon(true);
  }

  /**
   * A reader with its own consumer, built from the batcher's pass-through settings (the consumer
   * keys among them: bootstrap servers, security; {@code schema.registry.url} for the serde).
   */
  static ResidencyReader create(
      Map<String, String> settings, ResidencyIndex index, BatcherMetrics metrics) {
    Map<String, Object> c = BatcherApp.clientConfig(settings, ConsumerConfig.configNames());
    c.remove("group.id");
    c.remove("group.instance.id");
    c.put("client.id", settings.getOrDefault("client.id", "lorastream-batcher") + "-residency");
    c.put("enable.auto.commit", false);
    c.put("auto.offset.reset", "earliest");
    var consumer =
        new KafkaConsumer<>(
            c, new StringDeserializer(), Topics.RESIDENCY.valueSerde(settings).deserializer());
    return new ResidencyReader(consumer, index, metrics);
  }

  /** Starts the reader thread. */
  synchronized void start() {
    started = true;
    thread.start();
  }

  @Override
  public void run() {
    try {
      List<TopicPartition> partitions =
          consumer.partitionsFor(Topics.RESIDENCY.name()).stream()
              .map(p -> new TopicPartition(p.topic(), p.partition()))
              .toList();
      consumer.assign(partitions);
      consumer.seekToBeginning(partitions);
      while (running) {
        poll();
      }
    } catch (WakeupException e) {
      // close()
    } catch (RuntimeException e) {
      LOG.log(
          System.Logger.Level.WARNING,
          "the lora.residency reader stopped; batches are routed by hash from the last records"
              + " it read until they expire",
          e);
    } finally {
      consumer.close(Duration.ofSeconds(5));
    }
  }

  /** One poll: each record replaces its consumer's entry; a tombstone removes it. */
  void poll() {
    try {
      for (ConsumerRecord<String, ConsumerResidency> r : consumer.poll(Duration.ofMillis(500))) {
        if (r.key() == null) {
          metrics.residencyRecord("undecodable");
          continue;
        }
        index.update(r.key(), r.value());
        metrics.residencyRecord(r.value() == null ? "tombstone" : "read");
      }
    } catch (RecordDeserializationException e) {
      metrics.residencyRecord("undecodable");
      LOG.log(
          System.Logger.Level.WARNING,
          "skipping undecodable lora.residency record at "
              + e.topicPartition()
              + "@"
              + e.offset()
              + ": "
              + e.getMessage());
      consumer.seek(e.topicPartition(), e.offset() + 1);
    }
  }

  @Override
  public synchronized void close() {
    running = false;
    if (!started) {
      consumer.close(Duration.ZERO);
      return;
    }
    consumer.wakeup();
    try {
      thread.join(10_000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
