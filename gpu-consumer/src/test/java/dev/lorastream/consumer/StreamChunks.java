package dev.lorastream.consumer;

import dev.lorastream.schemas.StreamChunk;
import dev.lorastream.schemas.Topics;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;

/** Reads what the consumers streamed on partition 0 of {@code lora.stream}, for tests. */
final class StreamChunks {
  private StreamChunks() {}

  /** Every chunk, in offset order, once 1 s passes without a new one. */
  static List<StreamChunk> all(String bootstrap, Map<String, Object> serde) {
    List<StreamChunk> out = new ArrayList<>();
    try (KafkaConsumer<String, StreamChunk> c =
        new KafkaConsumer<>(
            Map.of("bootstrap.servers", bootstrap),
            new StringDeserializer(),
            Topics.STREAM.valueSerde(serde).deserializer())) {
      TopicPartition p0 = new TopicPartition(Topics.STREAM.name(), 0);
      c.assign(List.of(p0));
      c.seekToBeginning(List.of(p0));
      int quiet = 0;
      while (quiet < 10) {
        var records = c.poll(Duration.ofMillis(100));
        quiet = records.isEmpty() ? quiet + 1 : 0;
        records.forEach((ConsumerRecord<String, StreamChunk> r) -> out.add(r.value()));
      }
    }
    return out;
  }

  /** Request id to the attempts its chunks carry, in the order they were written. */
  static Map<String, List<Long>> attempts(List<StreamChunk> chunks) {
    Map<String, List<Long>> out = new LinkedHashMap<>();
    for (StreamChunk c : chunks) {
      List<Long> a = out.computeIfAbsent(c.getRequestId(), k -> new ArrayList<>());
      if (a.isEmpty() || a.getLast().longValue() != c.getAttempt()) {
        a.add(c.getAttempt());
      }
    }
    return out;
  }

  /** The requests whose chunks carry more than one attempt. */
  static TreeSet<String> recomputed(Map<String, List<Long>> attempts) {
    TreeSet<String> out = new TreeSet<>();
    attempts.forEach(
        (id, a) -> {
          if (a.size() > 1) {
            out.add(id);
          }
        });
    return out;
  }
}
