package dev.lorastream.ingest;

import dev.lorastream.schemas.CancelRequest;
import dev.lorastream.schemas.StreamChunk;
import dev.lorastream.schemas.Tenants;
import dev.lorastream.schemas.Topics;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledExecutorService;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The streaming and cancelling side of a {@link LoraClient}, made on first use so that a client
 * that does neither needs neither topic. The chunk reader is assigned every partition of the stream
 * topic ({@code lora.stream}, or {@code lora.tenant.<t>.stream} when the client sends to a tenant's
 * request topic), positioned at the end before the first streamed request is sent, and reads {@code
 * read_uncommitted} (chunks are written outside transactions). A chunk is published only to the
 * stream of the request it names, sent by this client for the same tenant; any other is counted in
 * {@code lorastream.client.stream.chunks.foreign} and dropped. Thread-safe.
 */
final class ClientStreams implements AutoCloseable {
  private static final Duration POLL = Duration.ofMillis(50);

  private final LoraClientConfig config;
  private final String streamTopic;
  private final String cancelTopic;
  private final Map<String, RequestStream> streams = new ConcurrentHashMap<>();
  private final Deserializer<StreamChunk> chunks;
  private final KafkaConsumer<String, byte[]> reader;
  private final KafkaProducer<String, CancelRequest> cancels;
  private final Thread thread;
  private final Counter foreign;
  private final Counter stale;
  private volatile boolean closed;

  ClientStreams(LoraClientConfig config, MeterRegistry registry) {
    this.config = config;
    var tenant = Tenants.ofRequestsTopic(config.requestTopic());
    this.streamTopic = tenant.map(Tenants::streamTopic).orElse(Topics.STREAM.name());
    this.cancelTopic = tenant.map(Tenants::cancelTopic).orElse(Topics.CANCEL.name());
    Map<String, Object> serde =
        Map.of(LoraClientConfig.SCHEMA_REGISTRY_URL, config.schemaRegistryUrl());
    this.chunks = Topics.stream(streamTopic).valueSerde(serde).deserializer();
    this.foreign = Counter.builder("lorastream.client.stream.chunks.foreign").register(registry);
    this.stale = Counter.builder("lorastream.client.stream.chunks.stale").register(registry);
    Map<String, Object> c = new HashMap<>();
    c.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, config.bootstrapServers());
    c.put(ConsumerConfig.CLIENT_ID_CONFIG, config.clientId() + "-stream");
    c.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    c.put(ConsumerConfig.ALLOW_AUTO_CREATE_TOPICS_CONFIG, false);
    c.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, 10); // chunks are for latency
    c.putAll(config.kafkaOverrides());
    c.remove(ConsumerConfig.GROUP_ID_CONFIG);
    this.reader = new KafkaConsumer<>(c, new StringDeserializer(), new ByteArrayDeserializer());
    Map<String, Object> p = new HashMap<>();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, config.bootstrapServers());
    p.put(ProducerConfig.CLIENT_ID_CONFIG, config.clientId() + "-cancel");
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    p.putAll(config.kafkaOverrides());
    try {
      seekToEnd();
      this.cancels =
          new KafkaProducer<>(
              p, new StringSerializer(), Topics.cancel(cancelTopic).valueSerde(serde).serializer());
    } catch (RuntimeException e) {
      reader.close(Duration.ZERO);
      throw e;
    }
    this.thread = new Thread(this::poll, config.clientId() + "-stream");
    this.thread.setDaemon(true);
    this.thread.start();
  }

  String streamTopic() {
    return streamTopic;
  }

  /**
   * Starts publishing the chunks of {@code requestId} to a new stream; one that fails at once when
   * this client streams that id already (the two streams' chunks could not be told apart).
   */
  RequestStream open(String requestId, String tenantId, ScheduledExecutorService timer) {
    RequestStream[] self = new RequestStream[1];
    self[0] = new RequestStream(tenantId, timer, () -> streams.remove(requestId, self[0]));
    if (streams.putIfAbsent(requestId, self[0]) != null) {
      RequestStream refused = new RequestStream(tenantId, timer, () -> {});
      refused.onFailure(
          new IllegalArgumentException(
              "request id '" + requestId + "' is already streaming on this client"));
      return refused;
    }
    return self[0];
  }

  /** Sends a cancel of (tenant, request id); completes when the broker has it. */
  CompletableFuture<Void> cancel(String tenantId, String requestId) {
    CompletableFuture<Void> f = new CompletableFuture<>();
    CancelRequest c =
        CancelRequest.newBuilder()
            .setTenantId(tenantId)
            .setRequestId(requestId)
            .setCreatedEpochMs(System.currentTimeMillis())
            .build();
    try {
      cancels.send(
          new ProducerRecord<>(cancelTopic, requestId, c),
          (md, e) -> {
            if (e != null) {
              f.completeExceptionally(e);
            } else {
              f.complete(null);
            }
          });
    } catch (RuntimeException e) {
      f.completeExceptionally(e);
    }
    return f;
  }

  private void poll() {
    try {
      while (!closed) {
        for (ConsumerRecord<String, byte[]> r : reader.poll(POLL)) {
          onChunk(r);
        }
      }
    } catch (WakeupException e) {
      // close()
    } catch (RuntimeException e) {
      for (RequestStream s : List.copyOf(streams.values())) {
        s.onFailure(
            new IllegalStateException("the stream reader of " + streamTopic + " failed", e));
      }
    } finally {
      reader.close(Duration.ofSeconds(2));
    }
  }

  private void onChunk(ConsumerRecord<String, byte[]> r) {
    RequestStream s = r.key() == null ? null : streams.get(r.key());
    StreamChunk c;
    try {
      c = s == null ? null : chunks.deserialize(r.topic(), r.value());
    } catch (RuntimeException e) {
      c = null;
    }
    if (c == null || !c.getRequestId().equals(r.key()) || !c.getTenantId().equals(s.tenantId())) {
      foreign.increment(); // not a request of this client's (or undecodable)
      return;
    }
    if (s.onChunk(c) == RequestStream.Outcome.STALE) {
      stale.increment();
    }
  }

  private void seekToEnd() {
    List<PartitionInfo> infos = reader.partitionsFor(streamTopic);
    if (infos == null || infos.isEmpty()) {
      throw new IllegalStateException(
          "stream topic " + streamTopic + " does not exist; create it before streaming");
    }
    List<TopicPartition> parts =
        infos.stream().map(i -> new TopicPartition(i.topic(), i.partition())).toList();
    reader.assign(parts);
    reader.seekToEnd(parts);
    for (TopicPartition tp : parts) {
      reader.position(tp);
    }
  }

  @Override
  public void close() {
    closed = true;
    reader.wakeup();
    try {
      thread.join(5_000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    for (RequestStream s : List.copyOf(streams.values())) {
      s.onFailure(new LoraClient.ClosedException("LoraClient " + config.clientId() + " closed"));
    }
    cancels.close(Duration.ofSeconds(2));
    chunks.close();
  }
}
