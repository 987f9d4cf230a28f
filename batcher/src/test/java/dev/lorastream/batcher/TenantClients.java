package dev.lorastream.batcher;

import dev.lorastream.devstack.TestKafkaCluster;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.Serdes;

/** Kafka clients of one user of a {@link TestKafkaCluster#startSasl} broker, for tenant tests. */
final class TenantClients {

  private TenantClients() {}

  /** Producer and consumer settings of {@code user}; {@code max.block.ms} short for refusals. */
  static Map<String, Object> config(TestKafkaCluster cluster, String user) {
    Map<String, Object> c = new HashMap<>(cluster.clientConfig(user));
    c.put("max.block.ms", "10000");
    c.put("default.api.timeout.ms", "10000");
    return c;
  }

  /**
   * Sends {@code value} to {@code topic} as {@code user}; returns null when the broker took it, or
   * what it answered instead (the cause of the failed send).
   */
  static Throwable send(
      TestKafkaCluster cluster, String user, String topic, String key, byte[] value)
      throws InterruptedException {
    try (var p =
        new KafkaProducer<>(
            config(cluster, user), Serdes.String().serializer(), Serdes.ByteArray().serializer())) {
      try {
        p.send(new ProducerRecord<>(topic, key, value)).get(30, TimeUnit.SECONDS);
        return null;
      } catch (ExecutionException e) {
        return e.getCause();
      } catch (RuntimeException | java.util.concurrent.TimeoutException e) {
        return e;
      }
    }
  }

  /**
   * Reads partitions 0 to {@code partitions - 1} of {@code topic} as {@code user} (assigned, no
   * group, read_committed, from the beginning) until {@code n} records that {@code wanted} accepts
   * came or {@code timeout} passed; returns those.
   *
   * @throws org.apache.kafka.common.errors.TopicAuthorizationException when {@code user} may not
   *     read it
   */
  static List<ConsumerRecord<String, byte[]>> read(
      TestKafkaCluster cluster,
      String user,
      String topic,
      int partitions,
      int n,
      Duration timeout,
      Predicate<ConsumerRecord<String, byte[]>> wanted) {
    Map<String, Object> c = config(cluster, user);
    c.put("isolation.level", "read_committed");
    try (var consumer =
        new KafkaConsumer<>(c, Serdes.String().deserializer(), Serdes.ByteArray().deserializer())) {
      List<TopicPartition> tps = new ArrayList<>();
      for (int i = 0; i < partitions; i++) {
        tps.add(new TopicPartition(topic, i));
      }
      consumer.assign(tps);
      consumer.seekToBeginning(tps);
      List<ConsumerRecord<String, byte[]>> out = new ArrayList<>();
      long deadline = System.nanoTime() + timeout.toNanos();
      while (out.size() < n && System.nanoTime() < deadline) {
        for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(200))) {
          if (wanted.test(r) && out.size() < n) {
            out.add(r);
          }
        }
      }
      return out;
    }
  }

  /** {@link #read} of every record. */
  static List<ConsumerRecord<String, byte[]>> read(
      TestKafkaCluster cluster,
      String user,
      String topic,
      int partitions,
      int n,
      Duration timeout) {
    return read(cluster, user, topic, partitions, n, timeout, r -> true);
  }

  /** {@link #read} of the first record with key {@code key}, if it comes in time. */
  static List<ConsumerRecord<String, byte[]>> readKey(
      TestKafkaCluster cluster, String user, String topic, String key, Duration timeout) {
    return read(cluster, user, topic, 1, 1, timeout, r -> key.equals(r.key()));
  }
}
