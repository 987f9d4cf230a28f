package dev.lorastream.cli.chaos;

import dev.lorastream.schemas.Topics;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * A live, {@code read_committed} view of the run for its progress lines: the distinct request ids
 * answered so far on the reply topics (the record key is the request id) and the batches committed
 * on {@code lora.batches}. The final count is {@link ChaosTally}'s own read, not this one. One
 * daemon thread; the counts may be read from any thread.
 */
final class ReplyLog implements AutoCloseable {
  final Set<String> answered = ConcurrentHashMap.newKeySet();
  final AtomicLong batches = new AtomicLong();
  private final KafkaConsumer<String, byte[]> consumer;
  private volatile boolean running = true;
  private final Thread thread;

  ReplyLog(String bootstrap, List<String> replyTopics) {
    consumer =
        new KafkaConsumer<>(
            Map.of(
                "bootstrap.servers",
                bootstrap,
                "isolation.level",
                "read_committed",
                "enable.auto.commit",
                false,
                "client.id",
                "chaos-progress"),
            new StringDeserializer(),
            new ByteArrayDeserializer());
    List<TopicPartition> parts = new ArrayList<>();
    List<String> topics = new ArrayList<>(replyTopics);
    topics.add(Topics.BATCHES.name());
    for (String t : topics) {
      for (PartitionInfo p : consumer.partitionsFor(t, Duration.ofSeconds(20))) {
        parts.add(new TopicPartition(t, p.partition()));
      }
    }
    consumer.assign(parts);
    consumer.seekToBeginning(parts);
    thread = Thread.ofPlatform().daemon().name("chaos-progress").start(this::poll);
  }

  private void poll() {
    while (running) {
      try {
        for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(500))) {
          if (r.topic().equals(Topics.BATCHES.name())) {
            batches.incrementAndGet();
          } else if (r.key() != null) {
            answered.add(r.key());
          }
        }
      } catch (WakeupException e) {
        return;
      } catch (KafkaException e) {
        // the broker is restarting: the client reconnects on the next poll
      }
    }
  }

  @Override
  public void close() throws InterruptedException {
    running = false;
    consumer.wakeup();
    thread.join(5_000);
    consumer.close(Duration.ofSeconds(2));
  }
}
