package dev.lorastream.ingest;

import dev.lorastream.schemas.ErrorCode;
import dev.lorastream.schemas.FinishReason;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.Topics;
import dev.lorastream.schemas.Usage;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Function;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Test fixture standing in for the batcher and the GPU consumers: a plain consumer on {@code
 * lora.requests} (assigned, from the end) and a producer that writes an {@link InferenceResult} for
 * each request to the request's reply topic. The answer function decides the result (null = never
 * answer). With {@code holdBack > 1} it collects that many results and sends them in reverse order
 * (out-of-order replies).
 */
public final class TestResponder implements AutoCloseable {
  private final KafkaConsumer<String, InferenceRequest> consumer;
  private final KafkaProducer<String, InferenceResult> producer;
  private final Function<InferenceRequest, InferenceResult> answer;
  private final int holdBack;
  private final List<InferenceRequest> seen = new CopyOnWriteArrayList<>();
  private final List<ProducerRecord<String, InferenceResult>> held = new ArrayList<>();
  private final Thread thread;
  private volatile boolean stop;

  public TestResponder(Function<InferenceRequest, InferenceResult> answer, int holdBack) {
    String bootstrap = KafkaTestCluster.bootstrap();
    Map<String, Object> serde = Map.of("schema.registry.url", KafkaTestCluster.REGISTRY_URL);
    this.answer = answer;
    this.holdBack = holdBack;
    this.consumer =
        new KafkaConsumer<>(
            Map.of("bootstrap.servers", bootstrap, "enable.auto.commit", false),
            new StringDeserializer(),
            Topics.REQUESTS.valueSerde(serde).deserializer());
    List<TopicPartition> parts =
        consumer.partitionsFor(Topics.REQUESTS.name()).stream()
            .map(p -> new TopicPartition(p.topic(), p.partition()))
            .toList();
    consumer.assign(parts);
    consumer.seekToEnd(parts);
    parts.forEach(consumer::position); // fixed before any test request is sent
    @SuppressWarnings("unchecked")
    Serializer<InferenceResult> values =
        (Serializer<InferenceResult>) (Serializer<?>) Topics.REPLIES.valueSerde(serde).serializer();
    this.producer =
        new KafkaProducer<>(
            Map.of("bootstrap.servers", bootstrap, "linger.ms", 0), new StringSerializer(), values);
    this.thread = new Thread(this::loop, "test-responder");
    thread.setDaemon(true);
    thread.start();
  }

  /** Answers every request at once with {@code answer}. */
  public TestResponder(Function<InferenceRequest, InferenceResult> answer) {
    this(answer, 1);
  }

  private void loop() {
    try {
      while (!stop) {
        for (ConsumerRecord<String, InferenceRequest> r : consumer.poll(Duration.ofMillis(50))) {
          seen.add(r.value());
          InferenceResult result = answer.apply(r.value());
          if (result != null) {
            held.add(new ProducerRecord<>(r.value().getReplyTopic(), r.key(), result));
          }
          if (held.size() >= holdBack) {
            Collections.reverse(held);
            held.forEach(producer::send);
            producer.flush();
            held.clear();
          }
        }
      }
    } catch (WakeupException e) {
      // closing
    } finally {
      consumer.close();
    }
  }

  /** Every request received so far. */
  public List<InferenceRequest> seen() {
    return seen;
  }

  /** A completion: {@code text}, finish reason STOP, usage from the prompt. */
  public static InferenceResult ok(InferenceRequest r, String text) {
    return base(r)
        .setText(text)
        .setFinishReason(FinishReason.STOP)
        .setUsage(new Usage(r.getPromptTokenIds().size(), 3))
        .build();
  }

  /** An error reply with a code and a message. */
  public static InferenceResult error(InferenceRequest r, ErrorCode code, String message) {
    return base(r)
        .setFinishReason(FinishReason.ERROR)
        .setErrorCode(code)
        .setErrorMessage(message)
        .build();
  }

  private static InferenceResult.Builder base(InferenceRequest r) {
    return InferenceResult.newBuilder()
        .setRequestId(r.getRequestId())
        .setTenantId(r.getTenantId())
        .setAdapterId(r.getAdapterId());
  }

  @Override
  public void close() throws InterruptedException {
    stop = true;
    consumer.wakeup();
    thread.join(10_000);
    producer.close();
  }
}
