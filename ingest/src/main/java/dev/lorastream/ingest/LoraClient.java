package dev.lorastream.ingest;

import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.Topics;
import dev.lorastream.schemas.Tracing;
import dev.lorastream.tokenizer.HfTokenizer;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.opentelemetry.api.OpenTelemetry;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.context.Context;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Flow;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Function;
import org.apache.avro.AvroRuntimeException;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
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
 * The library upstream systems use to ask lorastream for completions: {@link #submit} writes an
 * {@link InferenceRequest} to {@code lora.requests} and returns a future that the matching {@link
 * InferenceResult} on the reply topic completes.
 *
 * <p>Guarantees:
 *
 * <ul>
 *   <li>Every returned future completes exactly once: normally with the reply (error replies
 *       included, they carry {@code finishReason=ERROR} and an {@code errorCode}), or exceptionally
 *       with a {@link TimeoutException} after the request's timeout, the Kafka send error, an
 *       {@link IllegalArgumentException} for an invalid request, or a {@link ClosedException} on
 *       {@link #close}. Its pending entry is removed in every case, so nothing leaks ({@link
 *       #pending}).
 *   <li>No reply is missed: the reply consumer is positioned at the end of every reply-topic
 *       partition in the constructor, before any request can be sent.
 *   <li>Replies are read {@code read_committed}, so a result an aborted consumer transaction wrote
 *       is never seen.
 * </ul>
 *
 * <p>The reply consumer has no group: it is assigned every partition of the reply topic (no
 * rebalancing, no offset commits) and ignores replies for requests it is not waiting for (another
 * client's on a shared topic, or one that timed out). Each client thus reads the whole reply topic;
 * with many clients or high volume, give each tenant or client its own reply topic ({@link
 * LoraClientConfig#replyTopic}). Partitions added to the reply topic after the client started are
 * not read.
 *
 * <p>A request's identity is (tenantId, requestId), as in the batcher: a reply completes a pending
 * future only when its key is the request's id, its {@code tenantId} is the request's and it came
 * from the topic the request named; a reply under a pending id for another tenant is ignored and
 * counted ({@code lorastream.client.replies.foreign}). An id can be pending only once per client: a
 * second {@link #submit} of it fails with an {@link IllegalArgumentException}, since the two
 * answers could not be told apart. A {@code DUPLICATE_REQUEST} reply completes the future like any
 * error reply, rather than waiting for the first copy's answer (why: docs/operations.md, Client).
 *
 * <p>Thread-safe. Callbacks attached to the futures with non-async methods run on the client's
 * reply thread (or timer thread): keep them short, or use the {@code *Async} variants.
 */
public final class LoraClient implements AutoCloseable {

  /** Completes the futures still waiting when the client is closed. */
  public static final class ClosedException extends IllegalStateException {
    ClosedException(String message) {
      super(message);
    }
  }

  /** A request waiting for its reply, with what a reply must match besides its id. */
  private record Pending(
      CompletableFuture<InferenceResult> future,
      long startNanos,
      String tenantId,
      String replyTopic) {}

  /**
   * A request's future that forgets the request and records its outcome before it completes, so a
   * caller that sees the result also sees {@link #pending()} and the metrics up to date (a {@code
   * whenComplete} callback runs after waiting threads may already have returned). Every way to
   * complete it goes through here.
   */
  private final class Tracked extends CompletableFuture<InferenceResult> {
    final String id;
    final Pending entry;

    Tracked(InferenceRequest request, long startNanos) {
      this.id = request.getRequestId();
      this.entry = new Pending(this, startNanos, request.getTenantId(), request.getReplyTopic());
    }

    private void settle(InferenceResult result, Throwable failure) {
      pending.remove(id, entry);
      metrics.finished(result, failure, System.nanoTime() - entry.startNanos());
    }

    @Override
    public synchronized boolean complete(InferenceResult result) {
      if (isDone()) {
        return false;
      }
      settle(result, null);
      return super.complete(result);
    }

    @Override
    public synchronized boolean completeExceptionally(Throwable failure) {
      if (isDone()) {
        return false;
      }
      settle(null, failure);
      return super.completeExceptionally(failure);
    }

    @Override
    public synchronized boolean cancel(boolean mayInterruptIfRunning) {
      if (isDone()) {
        return false;
      }
      settle(null, new java.util.concurrent.CancellationException());
      return super.cancel(mayInterruptIfRunning);
    }
  }

  private static final Duration CLOSE_TIMEOUT = Duration.ofSeconds(5);
  private static final Duration POLL = Duration.ofMillis(100);

  private final LoraClientConfig config;
  private final HfTokenizer
      tokenizer; // nullable: requests must then carry token ids or be sent text-only
  private final Producer<String, InferenceRequest> producer;
  private final Consumer<String, byte[]> replies; // owned by replyThread after the constructor
  private final Deserializer<InferenceResult> resultDeserializer;
  private final Map<String, Pending> pending = new ConcurrentHashMap<>();
  private final ScheduledThreadPoolExecutor timer;
  private final Thread replyThread;
  private final ClientMetrics metrics;
  private final MeterRegistry meterRegistry;
  private final Tracer tracer;
  private volatile boolean closed;
  private volatile ClientStreams streams; // made on the first stream or cancel
  private volatile Throwable broken; // set when the reply consumer died; fails every later submit

  /** A client without a tokenizer and with a private {@link SimpleMeterRegistry}. */
  public LoraClient(LoraClientConfig config) {
    this(config, null, null);
  }

  /**
   * Connects and positions the reply consumer at the end of the reply topic.
   *
   * @param tokenizer fills {@code promptTokenIds} from the prompt text when a request has none; may
   *     be null; owned by the caller (not closed by {@link #close})
   * @param meterRegistry where the {@link ClientMetrics} meters go; null = a private {@link
   *     SimpleMeterRegistry}
   * @throws IllegalStateException when the reply topic does not exist
   */
  public LoraClient(
      LoraClientConfig config, PromptTokenizer tokenizer, MeterRegistry meterRegistry) {
    this(config, tokenizer, meterRegistry, OpenTelemetry.noop());
  }

  /**
   * A client that traces its requests: each gets a {@code lorastream.request} span (a child of the
   * caller's current span, or of the request's own {@code traceContext} when it has one) from send
   * to reply, and carries its context in {@code traceContext} and the record's {@code traceparent}
   * header; the servers add their spans under it ({@link Tracing}).
   */
  public LoraClient(
      LoraClientConfig config,
      PromptTokenizer tokenizer,
      MeterRegistry meterRegistry,
      OpenTelemetry openTelemetry) {
    this.config = config;
    this.tracer = openTelemetry.getTracer(Tracing.SCOPE);
    this.tokenizer = tokenizer == null ? null : tokenizer.tokenizer();
    this.meterRegistry = meterRegistry != null ? meterRegistry : new SimpleMeterRegistry();
    Map<String, Object> serde =
        Map.of(LoraClientConfig.SCHEMA_REGISTRY_URL, config.schemaRegistryUrl());
    this.resultDeserializer = Topics.replies(config.replyTopic()).valueSerde(serde).deserializer();
    this.replies =
        new KafkaConsumer<>(
            consumerProps(config), new StringDeserializer(), new ByteArrayDeserializer());
    try {
      seekToEnd(replies, config.replyTopic());
      this.producer =
          new KafkaProducer<>(
              producerProps(config),
              new StringSerializer(),
              Topics.REQUESTS.valueSerde(serde).serializer());
    } catch (RuntimeException e) {
      replies.close(Duration.ZERO);
      throw e;
    }
    this.metrics = new ClientMetrics(this.meterRegistry, pending);
    this.timer =
        new ScheduledThreadPoolExecutor(1, r -> daemon(r, config.clientId() + "-timeouts"));
    this.timer.setRemoveOnCancelPolicy(true); // a request answered in time leaves no task behind
    this.replyThread = daemon(this::pollReplies, config.clientId() + "-replies");
    this.replyThread.start();
  }

  /** {@link #submit(InferenceRequest.Builder, Duration)} with the configured default timeout. */
  public CompletableFuture<InferenceResult> submit(InferenceRequest.Builder request) {
    return submit(request, config.defaultTimeout());
  }

  /**
   * {@link #submit(InferenceRequest.Builder, Duration)} of a built request, with the default
   * timeout.
   */
  public CompletableFuture<InferenceResult> submit(InferenceRequest request) {
    return submit(InferenceRequest.newBuilder(request), config.defaultTimeout());
  }

  /**
   * Sends one request. Fields the caller left unset are filled: {@code requestId} (a random UUID),
   * {@code createdEpochMs} (now), {@code deadlineEpochMs} when 0 (created + timeout, so the servers
   * drop work nobody waits for), and {@code promptTokenIds} from {@code prompt} when empty and a
   * tokenizer was given. {@code replyTopic} is always set to this client's reply topic, the only
   * one it reads.
   *
   * @param request at least {@code tenantId} and a prompt (text or token ids); not modified
   * @param timeout how long to wait for the reply (> 0)
   * @return the future of the reply; see the class comment for how it completes
   */
  public CompletableFuture<InferenceResult> submit(
      InferenceRequest.Builder request, Duration timeout) {
    long start = System.nanoTime();
    InferenceRequest req;
    try {
      req = complete(InferenceRequest.newBuilder(request), timeout);
    } catch (RuntimeException e) {
      metrics.rejected();
      return CompletableFuture.failedFuture(e);
    }
    String id = req.getRequestId();
    Tracked future = new Tracked(req, start);
    Pending earlier = pending.putIfAbsent(id, future.entry);
    if (earlier != null) {
      metrics.rejected();
      return CompletableFuture.failedFuture(
          new IllegalArgumentException(
              "request id '"
                  + id
                  + "' is already pending on this client (tenant '"
                  + earlier.tenantId()
                  + "'): two replies under one id cannot be told apart; wait for the first, or"
                  + " send with a new requestId"));
    }
    Span span = startSpan(req);
    future.whenComplete((r, e) -> endSpan(span, r, e));
    if (closed
        || broken
            != null) { // checked after the put: close() either sees the entry or we see closed
      future.completeExceptionally(
          broken != null
              ? new IllegalStateException("reply consumer failed", broken)
              : new ClosedException("LoraClient " + config.clientId() + " is closed"));
      return future;
    }
    try {
      ScheduledFuture<?> timeoutTask =
          timer.schedule(
              () ->
                  future.completeExceptionally(
                      new TimeoutException(
                          "no reply to request "
                              + id
                              + " on "
                              + config.replyTopic()
                              + " within "
                              + timeout.toMillis()
                              + " ms")),
              timeout.toNanos(),
              TimeUnit.NANOSECONDS);
      future.whenComplete((r, e) -> timeoutTask.cancel(false));
      ProducerRecord<String, InferenceRequest> record =
          new ProducerRecord<>(config.requestTopic(), id, req);
      Tracing.toHeaders(req.getTraceContext(), record.headers());
      producer.send(
          record,
          (metadata, e) -> {
            if (e != null) {
              future.completeExceptionally(e);
            }
          });
    } catch (
        RuntimeException e) { // closed concurrently, serialization, buffer full past max.block.ms
      future.completeExceptionally(e);
    }
    return future;
  }

  /**
   * The request's span, its context written into {@code req}'s {@code traceContext} (a span that is
   * not recording, as with tracing off, leaves the request as it was).
   */
  private Span startSpan(InferenceRequest req) {
    Context parent =
        switch (Tracing.parent(req.getTraceContext())) {
          case Tracing.Parent.Of(Context c) -> c;
          default -> Context.current();
        };
    Span span =
        tracer
            .spanBuilder("lorastream.request")
            .setSpanKind(SpanKind.PRODUCER)
            .setParent(parent)
            .setAttribute(Tracing.TENANT, req.getTenantId())
            .setAttribute(Tracing.ADAPTER, req.getAdapterId() == null ? "" : req.getAdapterId())
            .setAttribute(Tracing.REQUEST_ID, req.getRequestId())
            .startSpan();
    if (span.getSpanContext().isValid()) {
      req.setTraceContext(Tracing.contextOf(span));
    }
    return span;
  }

  private static void endSpan(Span span, InferenceResult r, Throwable e) {
    if (e != null) {
      span.setStatus(StatusCode.ERROR, e.toString());
    } else {
      if (r.getBatchId() != null) {
        span.setAttribute(Tracing.BATCH_ID, r.getBatchId());
      }
      if (r.getErrorCode() != null) {
        span.setStatus(StatusCode.ERROR, r.getErrorCode() + ": " + r.getErrorMessage());
      }
    }
    span.end();
  }

  /** {@link #stream(InferenceRequest.Builder, Duration)} with the configured default timeout. */
  public Flow.Publisher<StreamEvent> stream(InferenceRequest.Builder request) {
    return stream(request, config.defaultTimeout());
  }

  /**
   * Sends one request like {@link #submit(InferenceRequest.Builder, Duration)} and publishes its
   * token chunks as they are generated, then its result ({@link StreamEvent}; a {@link
   * StreamEvent.Restart} when it is computed again). The publisher is for one subscriber; events
   * before it subscribes are kept for it. It completes after the result, or exceptionally as {@link
   * #submit}'s future would. The first call reads the stream topic's end (it must exist: {@code
   * lora.stream}, or the tenant's {@code lora.tenant.<t>.stream}). Subscriber callbacks run on the
   * client's stream or reply thread: keep them short.
   */
  public Flow.Publisher<StreamEvent> stream(InferenceRequest.Builder request, Duration timeout) {
    InferenceRequest.Builder b = InferenceRequest.newBuilder(request).setStream(true);
    if (!b.hasRequestId() || b.getRequestId() == null || b.getRequestId().isBlank()) {
      b.setRequestId(UUID.randomUUID().toString());
    }
    RequestStream s = streams().open(b.getRequestId(), String.valueOf(b.getTenantId()), timer);
    if (s.failed()) {
      return s; // the id streams already: not sent
    }
    submit(b, timeout)
        .whenComplete(
            (r, e) -> {
              if (e != null) {
                s.onFailure(e);
              } else {
                s.onResult(r);
              }
            });
    return s;
  }

  /**
   * Asks the servers to stop computing a request this client is waiting for: sends (its tenant,
   * {@code requestId}) to the cancel topic ({@code lora.cancel}, or the tenant's {@code
   * lora.tenant.<t>.cancel}). The request is then answered with {@code errorCode} {@code CANCELLED}
   * and the text so far, unless it finished first (its result then stands). The future completes
   * when the broker has the cancel, or fails with an {@link IllegalArgumentException} when the id
   * is not pending on this client.
   */
  public CompletableFuture<Void> cancel(String requestId) {
    Pending p = requestId == null ? null : pending.get(requestId);
    if (p == null) {
      return CompletableFuture.failedFuture(
          new IllegalArgumentException(
              "request id '" + requestId + "' is not pending on this client: nothing to cancel"));
    }
    return streams().cancel(p.tenantId(), requestId);
  }

  private ClientStreams streams() {
    ClientStreams s = streams;
    if (s == null) {
      synchronized (this) {
        if (closed) {
          throw new ClosedException("LoraClient " + config.clientId() + " is closed");
        }
        s = streams;
        if (s == null) {
          s = new ClientStreams(config, meterRegistry);
          streams = s;
        }
      }
    }
    return s;
  }

  private InferenceRequest complete(InferenceRequest.Builder b, Duration timeout) {
    if (timeout == null || timeout.isNegative() || timeout.isZero()) {
      throw new IllegalArgumentException("timeout must be > 0, got " + timeout);
    }
    if (!b.hasTenantId() || b.getTenantId() == null || b.getTenantId().isBlank()) {
      throw new IllegalArgumentException("tenantId is required");
    }
    if (!b.hasRequestId() || b.getRequestId() == null || b.getRequestId().isBlank()) {
      b.setRequestId(UUID.randomUUID().toString());
    }
    if (!b.hasCreatedEpochMs()) {
      b.setCreatedEpochMs(System.currentTimeMillis());
    }
    if (b.getDeadlineEpochMs() == 0) {
      b.setDeadlineEpochMs(b.getCreatedEpochMs() + timeout.toMillis());
    }
    b.setReplyTopic(config.replyTopic());
    boolean noIds =
        !b.hasPromptTokenIds() || b.getPromptTokenIds() == null || b.getPromptTokenIds().isEmpty();
    if (noIds && b.getPrompt() == null) {
      throw new IllegalArgumentException(
          "request " + b.getRequestId() + " has neither prompt nor promptTokenIds");
    }
    if (noIds && tokenizer != null) {
      b.setPromptTokenIds(tokenizer.encodeToList(b.getPrompt()));
    }
    InferenceRequest built;
    try {
      built = b.build();
    } catch (AvroRuntimeException e) {
      throw new IllegalArgumentException(
          "invalid request " + b.getRequestId() + ": " + e.getMessage(), e);
    }
    Optional<String> nullField = RequiredFields.firstNull(built);
    if (nullField.isPresent()) {
      throw new IllegalArgumentException(
          "invalid request "
              + built.getRequestId()
              + ": "
              + nullField.get()
              + " is null, which the schema does not allow (leave a field unset for its default:"
              + " sampling defaults to greedy decoding of 16 tokens)");
    }
    return built;
  }

  private void pollReplies() {
    try {
      while (!closed) {
        for (ConsumerRecord<String, byte[]> r : replies.poll(POLL)) {
          onReply(r);
        }
      }
    } catch (WakeupException e) {
      // close() woke us up
    } catch (RuntimeException | Error e) {
      if (!closed) {
        broken = e;
        failAll(
            id ->
                new IllegalStateException(
                    "reply consumer of " + config.replyTopic() + " failed: " + e, e));
      }
    } finally {
      replies.close(CLOSE_TIMEOUT);
    }
  }

  private void onReply(ConsumerRecord<String, byte[]> r) {
    Pending p = r.key() == null ? null : pending.get(r.key());
    if (p == null) {
      metrics.unmatchedReply();
      return;
    }
    InferenceResult result;
    try {
      result = resultDeserializer.deserialize(r.topic(), r.value());
      if (result == null) {
        throw new IllegalArgumentException("null value (tombstone)");
      }
    } catch (RuntimeException e) {
      p.future()
          .completeExceptionally(
              new IllegalStateException(
                  "reply to request "
                      + r.key()
                      + " at "
                      + r.topic()
                      + "-"
                      + r.partition()
                      + "@"
                      + r.offset()
                      + " cannot be decoded: "
                      + e.getMessage(),
                  e));
      return;
    }
    if (!r.topic().equals(p.replyTopic()) || !p.tenantId().equals(result.getTenantId())) {
      metrics.foreignReply(); // the same id from another tenant: not this request's answer
      return;
    }
    p.future().complete(result);
  }

  /** Number of requests waiting for a reply. */
  public int pending() {
    return pending.size();
  }

  public LoraClientConfig config() {
    return config;
  }

  /** The registry the client's meters are on (the one given, or its private one). */
  public MeterRegistry meterRegistry() {
    return meterRegistry;
  }

  /**
   * Stops reading replies, completes every outstanding future with a {@link ClosedException}, and
   * closes the producer (waiting up to 5 s for requests already handed to it). Idempotent.
   */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    replies.wakeup();
    try {
      replyThread.join(CLOSE_TIMEOUT.toMillis() * 2);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    failAll(
        id ->
            new ClosedException(
                "LoraClient " + config.clientId() + " closed before a reply to " + id));
    synchronized (this) {
      if (streams != null) {
        streams.close();
      }
    }
    timer.shutdownNow();
    producer.close(CLOSE_TIMEOUT);
    resultDeserializer.close();
    metrics.close();
  }

  private void failAll(Function<String, RuntimeException> why) {
    for (var e : List.copyOf(pending.entrySet())) {
      e.getValue().future().completeExceptionally(why.apply(e.getKey()));
    }
  }

  /** How long a reply topic may take to appear in metadata before the client calls it absent. */
  private static final long TOPIC_APPEAR_MS = 3000;

  private static void seekToEnd(Consumer<String, byte[]> consumer, String topic) {
    List<PartitionInfo> infos;
    // a topic created a moment ago can be missing from the answering broker's metadata for a few
    // hundred ms: ask again for up to TOPIC_APPEAR_MS before calling it absent
    long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(TOPIC_APPEAR_MS);
    while (true) {
      try {
        infos = consumer.partitionsFor(topic); // waits up to default.api.timeout.ms
      } catch (org.apache.kafka.common.errors.TimeoutException e) {
        throw new IllegalStateException(
            "reply topic " + topic + " not found (or broker unreachable): " + e.getMessage(), e);
      }
      if ((infos != null && !infos.isEmpty()) || System.nanoTime() > end) {
        break;
      }
      try {
        Thread.sleep(100);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException("interrupted while looking up reply topic " + topic, e);
      }
    }
    if (infos == null || infos.isEmpty()) {
      throw new IllegalStateException(
          "reply topic " + topic + " does not exist; create it before starting clients");
    }
    List<TopicPartition> parts =
        infos.stream().map(i -> new TopicPartition(i.topic(), i.partition())).toList();
    consumer.assign(parts);
    consumer.seekToEnd(parts);
    for (TopicPartition tp : parts) {
      consumer.position(tp); // resolve the lazy seek now, before any request is sent
    }
  }

  private static Map<String, Object> consumerProps(LoraClientConfig c) {
    Map<String, Object> p = new HashMap<>();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, c.bootstrapServers());
    p.put(ConsumerConfig.CLIENT_ID_CONFIG, c.clientId() + "-replies");
    p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    p.put(ConsumerConfig.ALLOW_AUTO_CREATE_TOPICS_CONFIG, false);
    p.putAll(c.kafkaOverrides());
    p.remove(ConsumerConfig.GROUP_ID_CONFIG); // assigned, not subscribed: see the class comment
    return p;
  }

  private static Map<String, Object> producerProps(LoraClientConfig c) {
    Map<String, Object> p = new HashMap<>();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, c.bootstrapServers());
    p.put(ProducerConfig.CLIENT_ID_CONFIG, c.clientId() + "-requests");
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    p.put(ProducerConfig.LINGER_MS_CONFIG, 5);
    p.putAll(c.kafkaOverrides());
    return p;
  }

  private static Thread daemon(Runnable r, String name) {
    Thread t = new Thread(r, name);
    t.setDaemon(true);
    return t;
  }
}
