package dev.lorastream.ingest;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.Topics;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;

/**
 * A {@link LoraClient} of {@link LoraClientConfig#forTenant} on a real broker: it writes its
 * tenant's request topic, names its tenant's reply topic, and a reply there completes its future.
 */
class LoraClientTenantKafkaTest {

  @Test
  void aTenantClientUsesOnlyItsTenantsTopics() throws Exception {
    String bootstrap = KafkaTestCluster.bootstrap();
    KafkaTestCluster.createTopic("lora.tenant.tc1.requests", 1);
    KafkaTestCluster.createTopic("lora.tenant.tc1.replies", 1);
    Map<String, Object> serde = Map.of("schema.registry.url", KafkaTestCluster.REGISTRY_URL);
    LoraClientConfig config =
        LoraClientConfig.of(bootstrap, KafkaTestCluster.REGISTRY_URL)
            .forTenant("tc1")
            .withDefaultTimeout(Duration.ofSeconds(30));
    try (LoraClient client = new LoraClient(config);
        var requests =
            new KafkaConsumer<>(
                Map.<String, Object>of("bootstrap.servers", bootstrap),
                new StringDeserializer(),
                Topics.REQUESTS.valueSerde(serde).deserializer());
        var replies =
            new KafkaProducer<>(
                Map.<String, Object>of("bootstrap.servers", bootstrap),
                new StringSerializer(),
                Topics.REPLIES.valueSerde(serde).serializer())) {
      TopicPartition in = new TopicPartition("lora.tenant.tc1.requests", 0);
      requests.assign(List.of(in));
      requests.seekToBeginning(List.of(in));
      CompletableFuture<InferenceResult> f =
          client.submit(
              InferenceRequest.newBuilder()
                  .setTenantId("tc1")
                  .setRequestId("q1")
                  .setPromptTokenIds(List.of(1, 2)));

      List<ConsumerRecord<String, InferenceRequest>> seen = new ArrayList<>();
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
      while (seen.isEmpty() && System.nanoTime() < deadline) {
        requests.poll(Duration.ofMillis(200)).forEach(seen::add);
      }
      InferenceRequest sent = seen.getFirst().value();
      assertEquals("q1", seen.getFirst().key());
      assertEquals("lora.tenant.tc1.replies", sent.getReplyTopic());

      replies
          .send(
              new ProducerRecord<>(
                  "lora.tenant.tc1.replies", "q1", TestResponder.ok(sent, "hello")))
          .get();
      assertEquals("hello", f.get(30, TimeUnit.SECONDS).getText());
    }
  }
}
