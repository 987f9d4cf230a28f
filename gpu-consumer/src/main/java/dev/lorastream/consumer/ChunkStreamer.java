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
import java.util.concurrent.ConcurrentHashMap;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Writes the {@link StreamChunk}s of the requests being generated: one chunk per generated token
 * (text held back by {@link TextDeltas} goes in a later one), and a {@code last} chunk when the
 * request's result is made, carrying the rest of the result's text. Sent through a producer outside
 * the consumer's transactions (a lost or repeated chunk never touches the exactly-once result); a
 * failed send is counted ({@code lorastream.consumer.stream.errors}) and otherwise ignored (a topic
 * that cannot be written is not tried for {@link #MUTE}). The topic is {@code lora.stream}, or the
 * request tenant's {@code lora.tenant.<t>.stream} in topics tenancy.
 */
final class ChunkStreamer {
  private final Producer<String, StreamChunk> producer;
  private final TokenDecoder decoder;
  private final Tenancy tenancy;
  private final Counter chunks;
  private final Counter errors;
  private final Map<String, Long> muted = new ConcurrentHashMap<>(); // topic -> until (nanoTime)

  /** How long a topic that could not be written is not tried again. */
  static final Duration MUTE = Duration.ofSeconds(30);

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
   * most 2 ms, blocking the engine thread at most 0.5 s for a topic's metadata (then the topic is
   * muted).
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

  /**
   * A failed send: counted; when the topic's metadata could not be had (missing topic, no access,
   * broker away) the topic is muted for {@link #MUTE}, so that the engine thread, which sends, does
   * not wait {@code max.block.ms} for every token.
   */
  private void failed(String topic, Exception e) {
    errors.increment();
    if (e instanceof org.apache.kafka.common.errors.TimeoutException
        || e instanceof org.apache.kafka.common.errors.AuthorizationException
        || e instanceof org.apache.kafka.common.errors.UnknownTopicOrPartitionException) {
      muted.put(topic, System.nanoTime() + MUTE.toNanos());
    }
  }

  /**
   * The attempt number of a computation ({@code StreamChunk.attempt}): the consumer group
   * generation in which the batch was taken, then the epoch second the consumer process started. A
   * partition's new owner takes it in a later generation (a rebalance raises it); the same consumer
   * restarted under static membership keeps its generation but started later (a restart loads the
   * model: it takes seconds). Either way a computation after a redelivery gets a higher number.
   */
  static long attempt(int generation, long startedEpochSecond) {
    return ((long) generation << 32) | (startedEpochSecond & 0xffff_ffffL);
  }

  /** The stream of one computation ({@code attempt}) of {@code req}. */
  Stream open(InferenceRequest req, long attempt) {
    return new Stream(req, attempt);
  }

  /** One attempt's chunks; its listener and {@link #finish} run on the engine thread. */
  final class Stream implements TokenListener {
    private final InferenceRequest req;
    private final long attempt;
    private final String topic;
    private final TextDeltas deltas;
    private final StringBuilder handedOut = new StringBuilder();
    private int index;

    private Stream(InferenceRequest req, long attempt) {
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
      Long until = muted.get(topic);
      if (until != null && System.nanoTime() - until < 0) {
        errors.increment(); // a topic that could not be written a moment ago: not waited for again
        return;
      }
      try {
        producer.send(
            new ProducerRecord<>(topic, req.getRequestId(), c),
            (md, e) -> {
              if (e != null) {
                failed(topic, e);
              }
            });
        chunks.increment();
      } catch (RuntimeException e) { // serialization, closed, buffer full past max.block.ms
        failed(topic, e);
      }
    }
  }
}
