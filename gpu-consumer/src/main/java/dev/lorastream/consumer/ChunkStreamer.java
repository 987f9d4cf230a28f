package dev.lorastream.consumer;

import dev.lorastream.engine.sched.TokenDecoder;
import dev.lorastream.engine.sched.TokenListener;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.StreamChunk;
import dev.lorastream.schemas.Tenancy;
import dev.lorastream.schemas.Tenants;
import dev.lorastream.schemas.Topics;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Writes the {@link StreamChunk}s of the requests being generated: one chunk per generated token
 * (text held back by {@link TextDeltas} goes in a later one), and a {@code last} chunk when the
 * request's result is made, carrying the rest of the result's text. Sent through a producer outside
 * the consumer's transactions (a lost or repeated chunk never touches the exactly-once result); a
 * failed send is counted ({@code lorastream.consumer.stream.errors}) and otherwise ignored. The
 * topic is {@code lora.stream}, or the request tenant's {@code lora.tenant.<t>.stream} in topics
 * tenancy.
 */
final class ChunkStreamer {
  private final Producer<String, StreamChunk> producer;
  private final TokenDecoder decoder;
  private final Tenancy tenancy;
  private final Counter chunks;
  private final Counter errors;

  ChunkStreamer(
      Producer<String, StreamChunk> producer,
      TokenDecoder decoder,
      Tenancy tenancy,
      MeterRegistry registry) {
    this.producer = producer;
    this.decoder = decoder;
    this.tenancy = tenancy;
    this.chunks = Counter.builder("lorastream.consumer.stream.chunks").register(registry);
    this.errors = Counter.builder("lorastream.consumer.stream.errors").register(registry);
  }

  /**
   * A streamer with its own producer for consumer {@code s}: not transactional, batching for at
   * most 2 ms, blocking the engine thread at most 1 s for topic metadata.
   */
  static ChunkStreamer create(
      ConsumerSettings s, Map<String, ?> serde, TokenDecoder decoder, MeterRegistry registry) {
    Producer<String, StreamChunk> producer =
        new KafkaProducer<>(
            s.clientConfig(
                Map.of(
                    "client.id",
                    s.consumerId() + "-stream",
                    "linger.ms",
                    2,
                    "max.block.ms",
                    1000,
                    "acks",
                    "1",
                    "enable.idempotence",
                    false)),
            new StringSerializer(),
            Topics.STREAM.valueSerde(serde).serializer());
    return new ChunkStreamer(producer, decoder, s.tenancy(), registry);
  }

  void close() {
    producer.close(Duration.ofSeconds(2));
  }

  /** The stream of one computation ({@code attempt}) of {@code req}. */
  Stream open(InferenceRequest req, int attempt) {
    return new Stream(req, attempt);
  }

  /** One attempt's chunks; its listener and {@link #finish} run on the engine thread. */
  final class Stream implements TokenListener {
    private final InferenceRequest req;
    private final int attempt;
    private final String topic;
    private final TextDeltas deltas;
    private final StringBuilder handedOut = new StringBuilder();
    private int index;

    private Stream(InferenceRequest req, int attempt) {
      this.req = req;
      this.attempt = attempt;
      this.topic =
          tenancy == Tenancy.TOPICS && Tenants.isName(req.getTenantId())
              ? Tenants.streamTopic(req.getTenantId())
              : Topics.STREAM.name();
      this.deltas = new TextDeltas(decoder, req.getSampling().getStopStrings());
    }

    @Override
    public void onToken(int i, int tokenId) {
      String text = deltas.next(tokenId);
      handedOut.append(text);
      send(text, List.of(tokenId), false);
    }

    /** Sends the last chunk: the rest of the result's text. */
    void finish(InferenceResult result) {
      send(TextDeltas.rest(result.getText(), handedOut.toString()), new ArrayList<>(), true);
    }

    private void send(String text, List<Integer> tokenIds, boolean last) {
      StreamChunk c =
          StreamChunk.newBuilder()
              .setTenantId(req.getTenantId())
              .setRequestId(req.getRequestId())
              .setAttempt(attempt)
              .setIndex(index++)
              .setText(text)
              .setTokenIds(tokenIds)
              .setLast(last)
              .build();
      try {
        producer.send(
            new ProducerRecord<>(topic, req.getRequestId(), c),
            (md, e) -> {
              if (e != null) {
                errors.increment();
              }
            });
        chunks.increment();
      } catch (RuntimeException e) { // serialization, closed, buffer full past max.block.ms
        errors.increment();
      }
    }
  }
}
