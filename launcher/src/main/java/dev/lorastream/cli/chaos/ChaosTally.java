package dev.lorastream.cli.chaos;

import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.Topics;
import dev.lorastream.schemas.serde.AvroSerdeConfig;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * The outcome of a chaos run, from one {@code read_committed} read of every reply topic from its
 * beginning to its last stable offset: {@code lost} = sent ids never answered, {@code duplicated} =
 * answers beyond the first for an id (a repeat of any kind, error replies included), {@code errors}
 * = ids answered with an error code.
 */
record ChaosTally(
    int sent,
    int answered,
    int lost,
    int duplicated,
    Map<String, Integer> errors,
    List<Reply> replies,
    Set<String> lostIds) {

  /**
   * One committed reply: its request id, the consumer that wrote it, its record timestamp, its
   * error code (null = none), its adapter (null = the base model) and its generated tokens.
   */
  record Reply(
      String id,
      String servedBy,
      long timestampMs,
      String errorCode,
      String adapterId,
      int completionTokens) {}

  /** Counts {@code replies} against the sent ids. */
  static ChaosTally of(Set<String> sent, List<Reply> replies) {
    Map<String, Integer> answers = new HashMap<>();
    Map<String, Integer> errors = new HashMap<>();
    for (Reply r : replies) {
      answers.merge(r.id(), 1, Integer::sum);
      if (r.errorCode() != null) {
        errors.merge(r.errorCode(), 1, Integer::sum);
      }
    }
    int answered = 0;
    int duplicated = 0;
    Set<String> lost = new TreeSet<>();
    for (String id : sent) {
      Integer n = answers.get(id);
      if (n == null) {
        lost.add(id);
      } else {
        answered++;
        duplicated += n - 1;
      }
    }
    return new ChaosTally(
        sent.size(), answered, lost.size(), duplicated, errors, replies, Set.copyOf(lost));
  }

  /** The last line of a run. */
  String summary() {
    return "chaos: "
        + sent
        + " sent, "
        + answered
        + " answered, "
        + lost
        + " lost, "
        + duplicated
        + " duplicated";
  }

  /**
   * Reads every committed record of {@code topics} (from the beginning to the last stable offset,
   * {@code read_committed}).
   *
   * @throws org.apache.kafka.common.KafkaException when the broker cannot be read (e.g. it is
   *     restarting)
   */
  static List<Reply> readAll(String bootstrap, String registry, List<String> topics) {
    Map<String, Object> serde = Map.of(AvroSerdeConfig.SCHEMA_REGISTRY_URL, registry);
    List<Reply> out = new ArrayList<>();
    try (KafkaConsumer<String, InferenceResult> c =
        new KafkaConsumer<>(
            Map.of(
                "bootstrap.servers",
                bootstrap,
                "isolation.level",
                "read_committed",
                "enable.auto.commit",
                false,
                "client.id",
                "chaos-tally",
                "default.api.timeout.ms",
                20_000,
                "max.poll.records",
                2000),
            new StringDeserializer(),
            Topics.REPLIES.valueSerde(serde).deserializer())) {
      List<TopicPartition> parts = new ArrayList<>();
      for (String t : topics) {
        for (PartitionInfo p : c.partitionsFor(t, Duration.ofSeconds(20))) {
          parts.add(new TopicPartition(t, p.partition()));
        }
      }
      c.assign(parts);
      c.seekToBeginning(parts);
      Map<TopicPartition, Long> end = c.endOffsets(parts, Duration.ofSeconds(20));
      long deadline = System.currentTimeMillis() + 60_000;
      while (parts.stream().anyMatch(p -> c.position(p) < end.get(p))) {
        if (System.currentTimeMillis() > deadline) {
          throw new IllegalStateException("reading the reply topics took over 60 s");
        }
        for (ConsumerRecord<String, InferenceResult> r : c.poll(Duration.ofMillis(500))) {
          InferenceResult v = r.value();
          out.add(
              new Reply(
                  v.getRequestId(),
                  v.getServedBy(),
                  r.timestamp(),
                  v.getErrorCode() == null ? null : v.getErrorCode().name(),
                  v.getAdapterId(),
                  v.getUsage().getCompletionTokens()));
        }
      }
    }
    return out;
  }
}
