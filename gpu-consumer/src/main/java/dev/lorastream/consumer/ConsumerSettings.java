package dev.lorastream.consumer;

import dev.lorastream.engine.backends.Backends;
import dev.lorastream.engine.sched.AdapterInfo;
import dev.lorastream.engine.sched.Engine;
import dev.lorastream.engine.sched.EngineConfig;
import dev.lorastream.engine.sched.FairShares;
import dev.lorastream.engine.sched.Scheduler;
import dev.lorastream.schemas.EnvKeys;
import dev.lorastream.schemas.MetricsServer;
import dev.lorastream.schemas.ReplyTopicCache;
import dev.lorastream.schemas.Tenancy;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * Settings of the inference consumer service, each key declared once here with its default. Values
 * come from a map (system properties over the environment, or a test). A key's environment variable
 * is the key upper-cased with {@code .} and {@code -} turned into {@code _} ({@link EnvKeys}):
 * {@code LORASTREAM_MODEL_DIR} sets {@code lorastream.model.dir}, {@code
 * LORASTREAM_CONSUMER_MAX_INFLIGHT_BATCHES} sets {@code lorastream.consumer.max-inflight-batches}.
 *
 * @param bootstrapServers Kafka bootstrap servers
 * @param schemaRegistryUrl Confluent-API registry URL or {@code mock://scope}
 * @param tenancy {@code shared} or {@code topics} ({@link Tenancy}): in topics mode a result is
 *     written only to its tenant's {@code lora.tenant.<t>.replies} ({@link ReplyRouter})
 * @param kafka every other {@code lorastream.kafka.<setting>} key, prefix removed: Kafka client
 *     settings given to the consumer, producer, admin client and catalog reader (e.g. {@code
 *     lorastream.kafka.security.protocol}, {@code lorastream.kafka.sasl.jaas.config}; environment
 *     {@code LORASTREAM_KAFKA_SASL_JAAS_CONFIG}), so that the consumer can authenticate
 * @param groupId consumer group of all inference consumers
 * @param consumerId this consumer's id: its transactional id and the {@code servedBy} of its
 *     results
 * @param modelDir the base model (Hugging Face directory)
 * @param modelName the served model's name, which a registered adapter's {@code baseModel} must
 *     equal; defaults to the file name of {@code modelDir}
 * @param adapterRoots folders adapter sources must lie under ({@code file://} URIs and just-in-time
 *     {@code TENANT/NAME} adapters)
 * @param adapterMaxBytes largest adapter weights file accepted (read or downloaded)
 * @param adapterDownloadDir private folder {@code http(s)://} adapters are downloaded to; null: a
 *     fresh temporary folder
 * @param adapterDownloadTimeoutMs timeout of each adapter download request: to connect, until the
 *     headers, and between body bytes
 * @param metricsPort Prometheus endpoint port; 0 picks a free one, -1 disables it
 * @param maxInflightBatches batches pulled from Kafka with a request still being computed, at most
 *     (back-pressure); batches whose requests all finished and wait only for release do not count.
 *     Defaults to the engine's {@code lorastream.step.max-seqs}: each such batch holds at least one
 *     sequence, so with one straggler per batch the engine still has a full step's worth
 * @param replyTopicCacheMs how long the answer "this reply topic exists" is trusted before the
 *     cluster is asked again ({@link dev.lorastream.schemas.ReplyTopicCache}; also forgotten when a
 *     transaction aborts)
 * @param replyTopicRecheckMs how long any other answer (missing, illegal name, not authorized) is
 *     reused
 * @param retryBackoffMs wait before the next commit attempt after a failed one (aborted
 *     transaction, reply topics that could not be checked); doubles with each further failure
 * @param retryBackoffMaxMs the longest such wait
 * @param commitIntervalMs how often finished requests are released: each interval, one transaction
 *     commits every result finished and not yet released, with the offsets
 * @param offsetMetadataMaxBytes the brokers' {@code offset.metadata.max.bytes}: the longest
 *     answered-rows metadata an offset commit may carry; the consumer takes no more batches of a
 *     partition than fit ({@link AnsweredRowsCodec})
 * @param residencyIntervalMs how often the consumer publishes what it holds (its {@code
 *     lora.batches} partitions and the adapters in its backend pool and host memory) to the
 *     compacted {@code lora.residency}, for the batchers' routing ({@link ResidencyPublisher}); 0
 *     publishes nothing
 * @param usage whether the consumer writes per-tenant token counts to {@code lora.usage} in the
 *     transaction of the results they count ({@link UsageLedger}); the topic must then exist
 * @param shutdownGraceMs on {@link InferenceConsumer#drain} (SIGTERM): how long the consumer,
 *     taking no new batches, goes on computing and committing the ones it has before it leaves the
 *     group and hands what is left back (uncommitted, to the partitions' next owner); 0 hands back
 *     at once
 */
public record ConsumerSettings(
    String bootstrapServers,
    String schemaRegistryUrl,
    Tenancy tenancy,
    Map<String, String> kafka,
    String groupId,
    String consumerId,
    Path modelDir,
    String modelName,
    List<Path> adapterRoots,
    long adapterMaxBytes,
    Path adapterDownloadDir,
    long adapterDownloadTimeoutMs,
    int metricsPort,
    int maxInflightBatches,
    long replyTopicCacheMs,
    long replyTopicRecheckMs,
    long retryBackoffMs,
    long retryBackoffMaxMs,
    long commitIntervalMs,
    int offsetMetadataMaxBytes,
    long residencyIntervalMs,
    boolean usage,
    long shutdownGraceMs) {

  public static final String BOOTSTRAP = "lorastream.kafka.bootstrap.servers";
  public static final String REGISTRY = "lorastream.schema.registry.url";
  public static final String TENANCY = "lorastream.tenancy";

  /** Prefix of the Kafka client settings passed through ({@link #kafka}). */
  public static final String KAFKA_PREFIX = "lorastream.kafka.";

  public static final String GROUP = "lorastream.consumer.group";
  public static final String ID = "lorastream.consumer.id";
  public static final String MODEL = "lorastream.model.dir";
  public static final String ADAPTER_ROOTS = "lorastream.adapters.roots";
  public static final String MODEL_NAME = "lorastream.model.name";
  public static final String ADAPTER_MAX_BYTES = "lorastream.adapters.max-bytes";
  public static final String ADAPTER_DOWNLOAD_DIR = "lorastream.adapters.download-dir";
  public static final String ADAPTER_DOWNLOAD_TIMEOUT_MS =
      "lorastream.adapters.download-timeout-ms";
  public static final String METRICS_PORT = "lorastream.consumer.metrics.port";
  public static final String MAX_INFLIGHT = "lorastream.consumer.max-inflight-batches";
  public static final String REPLY_TOPIC_CACHE_MS = "lorastream.consumer.reply.topic.cache.ms";
  public static final String REPLY_TOPIC_RECHECK_MS = "lorastream.consumer.reply.topic.recheck.ms";
  public static final String RETRY_BACKOFF_MS = "lorastream.consumer.retry.backoff.ms";
  public static final String RETRY_BACKOFF_MAX_MS = "lorastream.consumer.retry.backoff.max.ms";
  public static final String COMMIT_INTERVAL_MS = "lorastream.consumer.commit.interval.ms";
  public static final String OFFSET_METADATA_MAX_BYTES =
      "lorastream.consumer.offset.metadata.max.bytes";
  public static final String RESIDENCY_INTERVAL_MS = "lorastream.consumer.residency.interval.ms";
  public static final String USAGE = "lorastream.consumer.usage";
  public static final String SHUTDOWN_GRACE_MS = "lorastream.consumer.shutdown.grace-ms";

  /** Below Kubernetes' default termination grace (30 s), leaving time to close. */
  public static final long DEFAULT_SHUTDOWN_GRACE_MS = 20_000;

  /** The brokers' default {@code offset.metadata.max.bytes}. */
  public static final int DEFAULT_OFFSET_METADATA_MAX_BYTES = 4096;

  /** {@link #RESIDENCY_INTERVAL_MS}'s default: a batcher's routing hint is about 1 s old. */
  public static final long DEFAULT_RESIDENCY_INTERVAL_MS = 1000;

  /** The keys {@link #from} reads. */
  public static final List<String> KEYS =
      List.of(
          BOOTSTRAP,
          REGISTRY,
          TENANCY,
          GROUP,
          ID,
          MODEL,
          MODEL_NAME,
          ADAPTER_ROOTS,
          ADAPTER_MAX_BYTES,
          ADAPTER_DOWNLOAD_DIR,
          ADAPTER_DOWNLOAD_TIMEOUT_MS,
          METRICS_PORT,
          MAX_INFLIGHT,
          REPLY_TOPIC_CACHE_MS,
          REPLY_TOPIC_RECHECK_MS,
          RETRY_BACKOFF_MS,
          RETRY_BACKOFF_MAX_MS,
          COMMIT_INTERVAL_MS,
          OFFSET_METADATA_MAX_BYTES,
          RESIDENCY_INTERVAL_MS,
          USAGE,
          SHUTDOWN_GRACE_MS);

  /**
   * The engine's system properties (README's engine table; with the per-adapter metrics' cap, read
   * as a system property too), which the service also takes from its environment: {@link
   * #exportEngineKeys} sets them before the engine reads them.
   */
  public static final List<String> ENGINE_KEYS =
      Stream.of(
              Backends.KEYS.stream(),
              Stream.of(
                  Engine.LOADER_THREADS_PROPERTY,
                  Engine.HOT_ADAPTERS_PROPERTY,
                  Scheduler.AGING_STEPS_PROPERTY,
                  FairShares.WEIGHTS_PROPERTY,
                  AdapterInfo.INTERVAL_MS_PROPERTY,
                  AdapterMeters.MAX_SERIES_PROPERTY),
              EngineConfig.KEYS.stream())
          .flatMap(s -> s)
          .toList();

  /** Environment variable → key, for {@link #KEYS} and {@link #ENGINE_KEYS}. */
  static final EnvKeys ENV =
      EnvKeys.of(Stream.concat(KEYS.stream(), ENGINE_KEYS.stream()).toList());

  public ConsumerSettings {
    adapterRoots = List.copyOf(adapterRoots);
    Objects.requireNonNull(tenancy, TENANCY);
    kafka = Map.copyOf(kafka);
    require(
        replyTopicCacheMs >= 0,
        REPLY_TOPIC_CACHE_MS,
        replyTopicCacheMs,
        ">= 0 (0 = ask every time)");
    require(
        replyTopicRecheckMs >= 0,
        REPLY_TOPIC_RECHECK_MS,
        replyTopicRecheckMs,
        ">= 0 (0 = ask every time)");
    require(retryBackoffMs > 0, RETRY_BACKOFF_MS, retryBackoffMs, "> 0");
    require(
        retryBackoffMaxMs >= retryBackoffMs,
        RETRY_BACKOFF_MAX_MS,
        retryBackoffMaxMs,
        ">= " + RETRY_BACKOFF_MS + " (" + retryBackoffMs + ")");
    require(commitIntervalMs > 0, COMMIT_INTERVAL_MS, commitIntervalMs, "> 0");
    require(
        shutdownGraceMs >= 0, SHUTDOWN_GRACE_MS, shutdownGraceMs, ">= 0 (0 = hand back at once)");
    require(
        adapterDownloadTimeoutMs > 0, ADAPTER_DOWNLOAD_TIMEOUT_MS, adapterDownloadTimeoutMs, "> 0");
    if (modelName == null || modelName.isBlank()) {
      throw new IllegalArgumentException(
          MODEL_NAME
              + " is blank: set the served model's name (what adapters register as baseModel)");
    }
    // room for the version prefix and one partly answered batch of a few rows
    require(
        offsetMetadataMaxBytes >= 16,
        OFFSET_METADATA_MAX_BYTES,
        offsetMetadataMaxBytes,
        ">= 16 (the brokers' offset.metadata.max.bytes, 4096 by default)");
    require(residencyIntervalMs >= 0, RESIDENCY_INTERVAL_MS, residencyIntervalMs, ">= 0 (0 = off)");
  }

  /** Reads the keys above from {@code props}; missing required keys fail naming them. */
  public static ConsumerSettings from(Map<String, String> props) {
    EnvKeys.requireKnown(
        props,
        "lorastream.consumer.",
        Stream.concat(KEYS.stream(), ENGINE_KEYS.stream()).toList(),
        "inference consumer");
    List<Path> roots = new ArrayList<>();
    for (String r : props.getOrDefault(ADAPTER_ROOTS, "").split(",")) {
      if (!r.isBlank()) {
        roots.add(Path.of(r.trim()).toAbsolutePath().normalize());
      }
    }
    Path modelDir = Path.of(required(props, MODEL));
    String downloadDir = props.get(ADAPTER_DOWNLOAD_DIR);
    return new ConsumerSettings(
        required(props, BOOTSTRAP),
        props.getOrDefault(REGISTRY, "mock://lorastream"),
        Tenancy.parse(TENANCY, props.getOrDefault(TENANCY, Tenancy.SHARED.configValue())),
        kafkaSettings(props),
        props.getOrDefault(GROUP, "lora-consumers"),
        props.getOrDefault(ID, "consumer-" + ManagementFactory.getRuntimeMXBean().getPid()),
        modelDir,
        props.getOrDefault(MODEL_NAME, defaultModelName(modelDir)),
        roots,
        Long.parseLong(props.getOrDefault(ADAPTER_MAX_BYTES, String.valueOf(1L << 30))),
        downloadDir == null || downloadDir.isBlank()
            ? null
            : Path.of(downloadDir.trim()).toAbsolutePath().normalize(),
        Long.parseLong(props.getOrDefault(ADAPTER_DOWNLOAD_TIMEOUT_MS, "60000")),
        Integer.parseInt(
            props.getOrDefault(METRICS_PORT, Integer.toString(MetricsServer.DEFAULT_PORT))),
        Integer.parseInt(props.getOrDefault(MAX_INFLIGHT, defaultMaxInflight(props))),
        Long.parseLong(
            props.getOrDefault(
                REPLY_TOPIC_CACHE_MS, Long.toString(ReplyTopicCache.DEFAULT_EXISTS_TTL_MS))),
        Long.parseLong(
            props.getOrDefault(
                REPLY_TOPIC_RECHECK_MS, Long.toString(ReplyTopicCache.DEFAULT_MISSING_TTL_MS))),
        Long.parseLong(props.getOrDefault(RETRY_BACKOFF_MS, "100")),
        Long.parseLong(props.getOrDefault(RETRY_BACKOFF_MAX_MS, "5000")),
        Long.parseLong(props.getOrDefault(COMMIT_INTERVAL_MS, "20")),
        Integer.parseInt(
            props.getOrDefault(
                OFFSET_METADATA_MAX_BYTES, Integer.toString(DEFAULT_OFFSET_METADATA_MAX_BYTES))),
        Long.parseLong(
            props.getOrDefault(
                RESIDENCY_INTERVAL_MS, Long.toString(DEFAULT_RESIDENCY_INTERVAL_MS))),
        bool(props, USAGE, true),
        Long.parseLong(
            props.getOrDefault(SHUTDOWN_GRACE_MS, Long.toString(DEFAULT_SHUTDOWN_GRACE_MS))));
  }

  /** {@code key}'s value as a boolean, {@code dflt} when absent; anything but true/false fails. */
  private static boolean bool(Map<String, String> props, String key, boolean dflt) {
    String v = props.get(key);
    if (v == null || v.isBlank()) {
      return dflt;
    }
    return switch (v.trim().toLowerCase(java.util.Locale.ROOT)) {
      case "true" -> true;
      case "false" -> false;
      default ->
          throw new IllegalArgumentException(key + " = '" + v + "' is invalid: use true or false");
    };
  }

  /** The model folder's file name (what the demo registers as {@code baseModel}). */
  private static String defaultModelName(Path modelDir) {
    Path name = modelDir.toAbsolutePath().normalize().getFileName();
    return name == null ? "" : name.toString();
  }

  /**
   * The engine's sequences per step ({@code lorastream.step.max-seqs} from {@code props}, else the
   * system property, else the engine's default): with fewer batches allowed in flight, batches each
   * holding back one long request would leave the engine's step half empty.
   */
  private static String defaultMaxInflight(Map<String, String> props) {
    return props.getOrDefault(
        EngineConfig.STEP_MAX_SEQS,
        System.getProperty(
            EngineConfig.STEP_MAX_SEQS, Integer.toString(EngineConfig.DEFAULT_MAX_SEQS)));
  }

  /** System properties overlaid on the process's {@code LORASTREAM_*} environment variables. */
  public static Map<String, String> fromEnvironment() {
    return fromEnvironment(System.getenv(), System.getProperties());
  }

  /**
   * {@code sys} overlaid on the {@code LORASTREAM_*} variables of {@code env}, each under the key
   * it sets ({@link EnvKeys}: a declared key, else the dotted lower-case name).
   */
  static Map<String, String> fromEnvironment(Map<String, String> env, Properties sys) {
    return ENV.overlay(env, sys);
  }

  /**
   * Sets the system property of each {@link #ENGINE_KEYS} key that {@code props} has (from the
   * environment or already a system property), so that the engine, which reads system properties,
   * sees the environment too. Call before the engine is built.
   */
  public static void exportEngineKeys(Map<String, String> props) {
    for (String k : ENGINE_KEYS) {
      String v = props.get(k);
      if (v != null) {
        System.setProperty(k, v);
      }
    }
  }

  /** The {@code lorastream.kafka.*} keys but {@link #BOOTSTRAP}, prefix removed. */
  private static Map<String, String> kafkaSettings(Map<String, String> props) {
    Map<String, String> m = new TreeMap<>();
    props.forEach(
        (k, v) -> {
          if (k.startsWith(KAFKA_PREFIX) && !k.equals(BOOTSTRAP)) {
            m.put(k.substring(KAFKA_PREFIX.length()), v);
          }
        });
    return m;
  }

  /**
   * Settings of one Kafka client: {@code bootstrap.servers}, then the pass-through {@link #kafka}
   * settings, then {@code fixed} (what the service relies on, e.g. {@code isolation.level}, which a
   * pass-through key cannot change).
   */
  public Map<String, Object> clientConfig(Map<String, Object> fixed) {
    Map<String, Object> m = new HashMap<>();
    m.put("bootstrap.servers", bootstrapServers);
    m.putAll(kafka);
    m.putAll(fixed);
    return m;
  }

  private static void require(boolean ok, String key, long value, String rule) {
    if (!ok) {
      throw new IllegalArgumentException(key + "=" + value + " is invalid: must be " + rule);
    }
  }

  private static String required(Map<String, String> props, String key) {
    String v = props.get(key);
    if (v == null || v.isBlank()) {
      throw new IllegalArgumentException(
          "missing setting "
              + key
              + " (system property -D"
              + key
              + " or environment "
              + EnvKeys.variable(key)
              + ")");
    }
    return v;
  }
}
