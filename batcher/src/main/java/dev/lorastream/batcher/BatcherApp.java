package dev.lorastream.batcher;

import dev.lorastream.schemas.AdapterCatalogRule;
import dev.lorastream.schemas.AdminReplyTopics;
import dev.lorastream.schemas.MetricsServer;
import dev.lorastream.schemas.ReplyTopicCache;
import dev.lorastream.schemas.Tenancy;
import dev.lorastream.schemas.Tenants;
import dev.lorastream.schemas.Topic;
import dev.lorastream.schemas.Topics;
import dev.lorastream.schemas.Tracing;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.kafka.KafkaStreamsMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.opentelemetry.api.OpenTelemetry;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.errors.LogAndContinueExceptionHandler;

/**
 * The batcher as a running service inside this JVM: checks that its topics exist, starts Kafka
 * Streams (exactly_once_v2) on {@link BatcherTopology}, registers meters (its own, Kafka Streams'
 * clients, JVM) in a Prometheus registry and serves them over HTTP. {@link BatcherMain} is the
 * command-line wrapper; the embedded demo calls {@link #start} next to its broker, consumer and
 * client.
 *
 * <p>It does not create topics (the demo or an admin does) and refuses to start, naming them, when
 * any is missing. In topics mode ({@code batcher.tenancy=topics}) it reads every {@code
 * lora.tenant.<t>.requests} by pattern instead of {@code lora.requests} (which then need not
 * exist); a tenant added later is read after the next metadata refresh ({@link
 * #TOPICS_METADATA_MAX_AGE_MS} unless {@code metadata.max.age.ms} is set). Required pass-through
 * keys: {@code bootstrap.servers}, {@code schema.registry.url}.
 *
 * <p>Fixed Streams settings: {@code processing.guarantee=exactly_once_v2}; an uncaught exception
 * replaces the stream thread a bounded number of times (a transient schema-registry outage is
 * retried from the committed offsets, see {@link DecodeProcessor}), while an {@link Error} or a
 * failure repeated at one record shuts Kafka Streams down ({@link ThreadFailurePolicy}), after
 * which {@link #failure} completes and {@link BatcherMain} exits non-zero; undecodable {@code
 * lora.adapters} records are logged and skipped.
 *
 * <p>{@code /health} is UP while Kafka Streams is RUNNING or REBALANCING and the stream makes
 * progress ({@link StreamHealth}): a daemon thread asks the cluster, every {@code
 * batcher.health.stall.ms / 6} (100 ms to 5 s), whether this instance's {@code lora.requests}
 * partitions have uncommitted input ({@link PendingInput}). Defaults that a key may override:
 * {@code application.id=lorastream-batcher}, a temporary {@code state.dir}.
 *
 * <p>It holds one Admin client for its life, through which the topology asks whether a request's
 * reply topic exists ({@link AdminReplyTopics} behind a {@link ReplyTopicCache}); the cache is
 * emptied whenever a stream thread is replaced, so a retried request is checked against the cluster
 * afresh.
 */
public final class BatcherApp implements AutoCloseable {

  public static final String DEFAULT_APPLICATION_ID = "lorastream-batcher";

  /**
   * {@code metadata.max.age.ms} in topics mode unless set: a tenant added while the batcher runs is
   * read from at most this long (plus a rebalance) after its request topic was created.
   */
  public static final String TOPICS_METADATA_MAX_AGE_MS = "30000";

  private static final System.Logger LOG = System.getLogger(BatcherApp.class.getName());

  private final KafkaStreams streams;
  private final KafkaStreams deadLetters; // CatalogDeadLetterTopology
  private final ResidencyReader residencyReader; // null when routing by residency is off
  private final AdminReplyTopics replyTopics;
  private final PrometheusMeterRegistry registry;
  private final MetricsServer metricsServer;
  private final KafkaStreamsMetrics streamsMetrics;
  private final Watch watch;
  private final AtomicBoolean closed = new AtomicBoolean();

  private BatcherApp(
      KafkaStreams streams,
      KafkaStreams deadLetters,
      ResidencyReader residencyReader,
      AdminReplyTopics replyTopics,
      PrometheusMeterRegistry registry,
      MetricsServer metricsServer,
      KafkaStreamsMetrics streamsMetrics,
      Watch watch) {
    this.streams = streams;
    this.deadLetters = deadLetters;
    this.residencyReader = residencyReader;
    this.replyTopics = replyTopics;
    this.registry = registry;
    this.metricsServer = metricsServer;
    this.streamsMetrics = streamsMetrics;
    this.watch = watch;
  }

  /**
   * The health rule and what feeds it: the record tracker, the pending-input probe on its own
   * thread, the reason of the last failure decision, and the future that completes when Kafka
   * Streams fails for good.
   */
  private static final class Watch {
    final RecordTracker tracker = new RecordTracker(System::currentTimeMillis);
    final StreamHealth health;
    final CompletableFuture<String> failure = new CompletableFuture<>();
    final ScheduledExecutorService probe =
        Executors.newSingleThreadScheduledExecutor(
            r -> {
              Thread t = new Thread(r, "batcher-health");
              t.setDaemon(true);
              return t;
            });
    volatile String lastDecision = "no stream-thread failure";
    volatile String lastDown;

    Watch(BatcherConfig config) {
      health = new StreamHealth(config.healthStallMs(), System.currentTimeMillis());
    }

    /** Null while healthy, else why not. */
    String downReason(KafkaStreams streams, KafkaStreams deadLetters) {
      long now = System.currentTimeMillis();
      long progress = tracker.lastProgressMs();
      if (progress >= 0) {
        health.progressed(progress);
      }
      String why = health.downReason(streams.state(), now);
      if (why == null && !deadLetters.state().isRunningOrRebalancing()) {
        why = "the lora.adapters.dlq writer is " + deadLetters.state();
      }
      if ((why == null) != (lastDown == null)) { // log the transitions only
        LOG.log(
            why == null ? System.Logger.Level.INFO : System.Logger.Level.WARNING,
            why == null ? "batcher health: UP" : "batcher health: DOWN, " + why);
        lastDown = why;
      }
      return why;
    }
  }

  /**
   * Starts the batcher; returns once Kafka Streams is starting (see {@link #awaitRunning}).
   *
   * @throws IllegalStateException when a required key is missing or a topic does not exist
   */
  public static BatcherApp start(BatcherConfig config) {
    return start(config, Tracing.forService("lorastream-batcher"));
  }

  /**
   * {@link #start(BatcherConfig)} with its spans going to {@code openTelemetry} ({@link Tracing}).
   */
  public static BatcherApp start(BatcherConfig config, OpenTelemetry openTelemetry) {
    Properties props = streamsProperties(config);
    checkTopics(config, props);
    Admin admin = Admin.create(adminConfig(props)); // owned and closed by replyTopics
    AdminReplyTopics replyTopics =
        new AdminReplyTopics(
            admin, String.valueOf(props.get(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG)));
    PendingInput pending =
        new PendingInput(
            admin,
            String.valueOf(props.get(StreamsConfig.APPLICATION_ID_CONFIG)),
            config.tenancy() == Tenancy.TOPICS
                ? t -> Tenants.ofRequestsTopic(t).isPresent()
                : Topics.REQUESTS.name()::equals);
    try {
      return start(config, props, replyTopics, pending, openTelemetry);
    } catch (RuntimeException e) {
      replyTopics.close();
      throw e;
    }
  }

  private static BatcherApp start(
      BatcherConfig config,
      Properties props,
      AdminReplyTopics replyTopics,
      PendingInput pending,
      OpenTelemetry openTelemetry) {
    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    registry.config().commonTags("service", "batcher");
    BatcherMetrics metrics = new BatcherMetrics(registry, config, openTelemetry);
    ReplyTopicCache cache =
        ReplyTopicCache.of(replyTopics, config.replyTopicCacheMs(), config.replyTopicRecheckMs());
    Watch watch = new Watch(config);
    ResidencyIndex residency =
        new ResidencyIndex(config.residencyMaxAgeMs(), System::currentTimeMillis);
    ResidencyReader residencyReader =
        residency.enabled() ? ResidencyReader.create(config.kafka(), residency, metrics) : null;
    KafkaStreams streams =
        new KafkaStreams(
            BatcherTopology.build(
                config,
                BatcherSerdes.from(config.kafka()),
                cache,
                metrics,
                watch.tracker,
                residency),
            props);
    ThreadFailurePolicy policy =
        new ThreadFailurePolicy(
            config.threadReplacementsMax(), config.threadReplacementsWindowMs());
    streams.setUncaughtExceptionHandler(
        e -> {
          cache.forgetAll(); // e.g. a reply topic deleted while cached as existing: the retry asks
          // again
          // called on the failing stream thread, where the tracker holds the record it was on
          ThreadFailurePolicy.Decision d =
              policy.decide(e, watch.tracker.inFlight(), System.currentTimeMillis());
          watch.lastDecision = d.reason();
          LOG.log(System.Logger.Level.ERROR, d.reason(), e);
          return d.response();
        });
    streams.setStateListener(
        (now, before) -> {
          if (now == KafkaStreams.State.ERROR) {
            watch.failure.complete("Kafka Streams failed: " + watch.lastDecision);
          }
        });
    Properties dlqProps = new Properties();
    dlqProps.putAll(props);
    dlqProps.put(
        StreamsConfig.APPLICATION_ID_CONFIG,
        props.get(StreamsConfig.APPLICATION_ID_CONFIG)
            + CatalogDeadLetterTopology.APPLICATION_ID_SUFFIX);
    KafkaStreams deadLetters =
        new KafkaStreams(
            CatalogDeadLetterTopology.build(
                new AdapterCatalogRule(Topics.ADAPTERS.valueSerde(config.kafka()).deserializer()),
                metrics),
            dlqProps);
    // a transient decoding failure (registry unreachable) is retried from the committed offset,
    // within the same bounds as the batching stream (an Error, or too many failures, stop it)
    ThreadFailurePolicy dlqPolicy =
        new ThreadFailurePolicy(
            config.threadReplacementsMax(), config.threadReplacementsWindowMs());
    deadLetters.setUncaughtExceptionHandler(
        e -> {
          ThreadFailurePolicy.Decision d = dlqPolicy.decide(e, null, System.currentTimeMillis());
          LOG.log(System.Logger.Level.ERROR, "lora.adapters.dlq writer: " + d.reason(), e);
          return d.response();
        });
    deadLetters.setStateListener(
        (now, before) -> {
          if (now == KafkaStreams.State.ERROR) {
            watch.failure.complete("the lora.adapters.dlq writer failed");
          }
        });
    KafkaStreamsMetrics streamsMetrics = new KafkaStreamsMetrics(streams);
    streamsMetrics.bindTo(registry);
    new JvmMemoryMetrics().bindTo(registry);
    new JvmGcMetrics().bindTo(registry);
    new JvmThreadMetrics().bindTo(registry);
    new ProcessorMetrics().bindTo(registry);
    MetricsServer server =
        config.metricsPort() < 0
            ? null
            : MetricsServer.startProbes(
                registry,
                config.metricsPort(),
                BatcherConfig.METRICS_PORT,
                new MetricsServer.Probes(
                    // Kafka Streams does not come back from ERROR: restart the process
                    () ->
                        streams.state() == KafkaStreams.State.ERROR
                                || deadLetters.state() == KafkaStreams.State.ERROR
                            ? "Kafka Streams is ERROR"
                            : null,
                    () -> watch.downReason(streams, deadLetters)));
    long every = Math.max(100, Math.min(5000, config.healthStallMs() / 6));
    watch.probe.scheduleWithFixedDelay(
        () -> observe(watch, pending, streams), every, every, TimeUnit.MILLISECONDS);
    if (residencyReader != null) {
      residencyReader.start();
    }
    streams.start();
    deadLetters.start();
    return new BatcherApp(
        streams,
        deadLetters,
        residencyReader,
        replyTopics,
        registry,
        server,
        streamsMetrics,
        watch);
  }

  private static void observe(Watch watch, PendingInput pending, KafkaStreams streams) {
    try {
      if (!streams.state().isRunningOrRebalancing()) {
        return;
      }
      Map<TopicPartition, Long> lag = pending.lag(streams);
      watch.health.observed(
          System.currentTimeMillis(),
          !lag.isEmpty(),
          lag.entrySet().stream()
              .map(e -> e.getKey() + ": " + e.getValue() + " records behind")
              .collect(Collectors.joining(", ")));
    } catch (RuntimeException e) { // keep what was known; the probe runs again
      LOG.log(System.Logger.Level.DEBUG, "pending-input probe failed: " + e);
    }
  }

  /** The Kafka Streams properties: pass-through keys plus the fixed and default settings above. */
  static Properties streamsProperties(BatcherConfig config) {
    for (String key : List.of(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "schema.registry.url")) {
      if (!config.kafka().containsKey(key)) {
        throw new IllegalStateException(
            "missing config key "
                + key
                + " (or environment variable "
                + (key.startsWith("schema") ? "SCHEMA_REGISTRY_URL" : "KAFKA_BOOTSTRAP_SERVERS")
                + ")");
      }
    }
    Properties p = new Properties();
    p.put(StreamsConfig.APPLICATION_ID_CONFIG, DEFAULT_APPLICATION_ID);
    if (config.tenancy() == Tenancy.TOPICS) {
      // a new tenant's request topic is subscribed at the next metadata refresh (default 5 min)
      p.put(StreamsConfig.METADATA_MAX_AGE_CONFIG, TOPICS_METADATA_MAX_AGE_MS);
    }
    p.putAll(config.kafka());
    if (!p.containsKey(StreamsConfig.STATE_DIR_CONFIG)) {
      try {
        p.put(
            StreamsConfig.STATE_DIR_CONFIG,
            Files.createTempDirectory("lorastream-batcher").toString());
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
    p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
    p.put(
        StreamsConfig.DESERIALIZATION_EXCEPTION_HANDLER_CLASS_CONFIG,
        LogAndContinueExceptionHandler.class);
    return p;
  }

  /**
   * The keys of {@code props} that an Admin client knows (bootstrap servers, security, timeouts).
   */
  private static Map<String, Object> adminConfig(Properties props) {
    return clientConfig(props, AdminClientConfig.configNames());
  }

  /**
   * The entries of {@code settings} whose keys a Kafka client knows ({@code names}, e.g. {@code
   * ConsumerConfig.configNames()}): the pass-through settings without Kafka Streams' and the
   * serdes' own keys, which a plain client would warn about.
   */
  static Map<String, Object> clientConfig(Map<?, ?> settings, Set<String> names) {
    Map<String, Object> out = new HashMap<>();
    settings.forEach(
        (k, v) -> {
          if (names.contains((String) k)) {
            out.put((String) k, v);
          }
        });
    return out;
  }

  private static void checkTopics(BatcherConfig config, Properties props) {
    List<String> needed =
        Topics.all().stream()
            .map(Topic::name)
            // in topics mode requests come from the tenants' topics, which may not exist yet
            .filter(t -> config.tenancy() != Tenancy.TOPICS || !t.equals(Topics.REQUESTS.name()))
            // the consumers and clients stream, cancel and count usage; the batcher neither
            // reads nor writes them
            .filter(
                t ->
                    !t.equals(Topics.STREAM.name())
                        && !t.equals(Topics.CANCEL.name())
                        && !t.equals(Topics.USAGE.name()))
            // read only to route by residency
            .filter(t -> config.residencyMaxAgeMs() > 0 || !t.equals(Topics.RESIDENCY.name()))
            .toList();
    try (Admin admin = Admin.create(adminConfig(props))) {
      Map<String, TopicDescription> found = new HashMap<>();
      List<String> missing = new ArrayList<>();
      for (var e : admin.describeTopics(needed).topicNameValues().entrySet()) {
        try {
          found.put(e.getKey(), e.getValue().get(30, TimeUnit.SECONDS));
        } catch (ExecutionException ex) {
          if (!(ex.getCause() instanceof UnknownTopicOrPartitionException)) {
            throw new IllegalStateException(
                "cannot describe topic "
                    + e.getKey()
                    + " at "
                    + props.get(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG)
                    + ": "
                    + ex.getCause(),
                ex.getCause());
          }
          missing.add(e.getKey());
        }
      }
      if (!missing.isEmpty()) {
        throw new IllegalStateException(
            "the batcher needs topics that do not exist: "
                + missing
                + " (it does not create topics: create them with the admin tool or the demo first)");
      }
      int partitions = found.get(Topics.BATCHES.name()).partitions().size();
      if (config.batchesPartitions() > 0 && partitions != config.batchesPartitions()) {
        throw new IllegalStateException(
            Topics.BATCHES.name()
                + " has "
                + partitions
                + " partitions but "
                + BatcherConfig.BATCHES_PARTITIONS
                + "="
                + config.batchesPartitions()
                + " (changing the count moves every adapter's home partition)");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while checking topics", e);
    } catch (TimeoutException e) {
      throw new IllegalStateException(
          "cannot reach Kafka at "
              + props.get(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG)
              + " to check topics "
              + Set.copyOf(needed),
          e);
    }
  }

  /** Waits until both Kafka Streams instances (batching, catalog DLQ) are RUNNING. */
  public boolean awaitRunning(Duration timeout) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (System.nanoTime() < deadline) {
      KafkaStreams.State s = streams.state();
      KafkaStreams.State d = deadLetters.state();
      if (s == KafkaStreams.State.RUNNING && d == KafkaStreams.State.RUNNING) {
        return true;
      }
      for (KafkaStreams.State x : List.of(s, d)) {
        if (x == KafkaStreams.State.ERROR || x == KafkaStreams.State.NOT_RUNNING) {
          return false;
        }
      }
      Thread.sleep(50);
    }
    return false;
  }

  /**
   * Completes, with the reason, when Kafka Streams enters state ERROR (the uncaught-exception
   * policy shut it down): the batcher then serves nothing and should exit for a restart.
   */
  public CompletableFuture<String> failure() {
    return watch.failure;
  }

  /** The state of the batching topology's Kafka Streams. */
  public KafkaStreams.State state() {
    return streams.state();
  }

  /** The state of the catalog DLQ writer's Kafka Streams ({@link CatalogDeadLetterTopology}). */
  public KafkaStreams.State deadLetterState() {
    return deadLetters.state();
  }

  public PrometheusMeterRegistry registry() {
    return registry;
  }

  /** The bound metrics port, or -1 when the endpoint is off. */
  public int metricsPort() {
    return metricsServer == null ? -1 : metricsServer.port();
  }

  /** Closes everything; a second call does nothing. */
  @Override
  public void close() {
    if (!closed.compareAndSet(false, true)) {
      return;
    }
    watch.probe.shutdownNow();
    streams.close(Duration.ofSeconds(30));
    deadLetters.close(Duration.ofSeconds(30));
    if (residencyReader != null) {
      residencyReader.close();
    }
    replyTopics.close();
    streamsMetrics.close();
    if (metricsServer != null) {
      metricsServer.close();
    }
    registry.close();
  }
}
