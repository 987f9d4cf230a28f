package dev.lorastream.devstack;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;

class EmbeddedKafkaTest {
  @Test
  void committedTransactionsAreVisibleToReadCommittedAndAbortedOnesAreNot() throws Exception {
    try (EmbeddedKafka kafka = EmbeddedKafka.start();
        Admin admin = Admin.create(Map.of("bootstrap.servers", kafka.bootstrapServers()))) {
      admin.createTopics(List.of(new NewTopic("t", 1, (short) 1))).all().get();
      Map<String, Object> pc =
          Map.of(
              "bootstrap.servers",
              kafka.bootstrapServers(),
              "transactional.id",
              "tx-1",
              "key.serializer",
              StringSerializer.class,
              "value.serializer",
              StringSerializer.class);
      try (KafkaProducer<String, String> p = new KafkaProducer<>(pc)) {
        p.initTransactions();
        p.beginTransaction();
        p.send(new ProducerRecord<>("t", "k", "kept"));
        p.commitTransaction();
        p.beginTransaction();
        p.send(new ProducerRecord<>("t", "k", "dropped"));
        p.flush();
        p.abortTransaction();
        p.beginTransaction();
        p.send(new ProducerRecord<>("t", "k", "kept too"));
        p.commitTransaction();
      }
      Map<String, Object> cc =
          Map.of(
              "bootstrap.servers",
              kafka.bootstrapServers(),
              "group.id",
              "g",
              "auto.offset.reset",
              "earliest",
              "isolation.level",
              "read_committed",
              "key.deserializer",
              StringDeserializer.class,
              "value.deserializer",
              StringDeserializer.class);
      List<String> seen = new ArrayList<>();
      try (KafkaConsumer<String, String> c = new KafkaConsumer<>(cc)) {
        c.subscribe(Set.of("t"));
        long end = System.currentTimeMillis() + 30_000;
        while (seen.size() < 2 && System.currentTimeMillis() < end) {
          for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(200))) {
            seen.add(r.value());
          }
        }
      }
      assertEquals(List.of("kept", "kept too"), seen);
    }
  }
}
