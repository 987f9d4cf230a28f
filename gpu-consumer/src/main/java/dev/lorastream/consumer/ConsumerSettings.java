package dev.lorastream.consumer;

import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Settings of the inference consumer service, each key declared once here with its default. Values come
 * from a map (system properties, an env-derived map, or a test) — {@code LORASTREAM_MODEL_DIR} in the
 * environment is the key {@code lorastream.model.dir}.
 *
 * @param bootstrapServers Kafka bootstrap servers
 * @param schemaRegistryUrl Confluent-API registry URL or {@code mock://scope}
 * @param groupId consumer group of all inference consumers
 * @param consumerId this consumer's id: its transactional id and the {@code servedBy} of its results
 * @param modelDir the base model (Hugging Face directory)
 * @param adapterRoots folders adapter sources must lie under ({@code file://} URIs only)
 * @param adapterMaxBytes largest adapter weights file accepted
 * @param metricsPort Prometheus endpoint port; 0 picks a free one, -1 disables it
 * @param maxInflightBatches batches pulled from Kafka but not yet committed, at most (back-pressure)
 * @param commitIntervalMs how often finished batches are committed, at most
 * @param replyTopicCacheMs how long the answer "this reply topic exists" is trusted before the cluster is
 *     asked again ({@link dev.lorastream.schemas.ReplyTopicCache}; also forgotten when a transaction aborts)
 * @param replyTopicRecheckMs how long any other answer (missing, illegal name, not authorized) is reused
 * @param retryBackoffMs wait before the next commit attempt after a failed one (aborted transaction, reply
 *     topics that could not be checked); doubles with each further failure
 * @param retryBackoffMaxMs the longest such wait
 */
public record ConsumerSettings(
    String bootstrapServers,
    String schemaRegistryUrl,
    String groupId,
    String consumerId,
    Path modelDir,
    List<Path> adapterRoots,
    long adapterMaxBytes,
    int metricsPort,
    int maxInflightBatches,
    long commitIntervalMs,
    long replyTopicCacheMs,
    long replyTopicRecheckMs,
    long retryBackoffMs,
    long retryBackoffMaxMs) {

  public static final String BOOTSTRAP = "lorastream.kafka.bootstrap.servers";
  public static final String REGISTRY = "lorastream.schema.registry.url";
  public static final String GROUP = "lorastream.consumer.group";
  public static final String ID = "lorastream.consumer.id";
  public static final String MODEL = "lorastream.model.dir";
  public static final String ADAPTER_ROOTS = "lorastream.adapters.roots";
  public static final String ADAPTER_MAX_BYTES = "lorastream.adapters.max-bytes";
  public static final String METRICS_PORT = "lorastream.consumer.metrics.port";
  public static final String MAX_INFLIGHT = "lorastream.consumer.max-inflight-batches";
  public static final String COMMIT_INTERVAL = "lorastream.consumer.commit-interval-ms";
  public static final String REPLY_TOPIC_CACHE_MS = "lorastream.consumer.reply.topic.cache.ms";
  public static final String REPLY_TOPIC_RECHECK_MS = "lorastream.consumer.reply.topic.recheck.ms";
  public static final String RETRY_BACKOFF_MS = "lorastream.consumer.retry.backoff.ms";
  public static final String RETRY_BACKOFF_MAX_MS = "lorastream.consumer.retry.backoff.max.ms";

  public ConsumerSettings {
    adapterRoots = List.copyOf(adapterRoots);
    require(replyTopicCacheMs >= 0, REPLY_TOPIC_CACHE_MS, replyTopicCacheMs, ">= 0 (0 = ask every time)");
    require(replyTopicRecheckMs >= 0, REPLY_TOPIC_RECHECK_MS, replyTopicRecheckMs, ">= 0 (0 = ask every time)");
    require(retryBackoffMs > 0, RETRY_BACKOFF_MS, retryBackoffMs, "> 0");
    require(retryBackoffMaxMs >= retryBackoffMs, RETRY_BACKOFF_MAX_MS, retryBackoffMaxMs,
        ">= " + RETRY_BACKOFF_MS + " (" + retryBackoffMs + ")");
  }

  /** Reads the keys above from {@code props}; missing required keys fail naming them. */
  public static ConsumerSettings from(Map<String, String> props) {
    List<Path> roots = new ArrayList<>();
    for (String r : props.getOrDefault(ADAPTER_ROOTS, "").split(",")) {
      if (!r.isBlank()) {
        roots.add(Path.of(r.trim()).toAbsolutePath().normalize());
      }
    }
    return new ConsumerSettings(
        required(props, BOOTSTRAP),
        props.getOrDefault(REGISTRY, "mock://lorastream"),
        props.getOrDefault(GROUP, "lora-consumers"),
        props.getOrDefault(ID, "consumer-" + ManagementFactory.getRuntimeMXBean().getPid()),
        Path.of(required(props, MODEL)),
        roots,
        Long.parseLong(props.getOrDefault(ADAPTER_MAX_BYTES, String.valueOf(1L << 30))),
        Integer.parseInt(props.getOrDefault(METRICS_PORT, "9402")),
        Integer.parseInt(props.getOrDefault(MAX_INFLIGHT, "16")),
        Long.parseLong(props.getOrDefault(COMMIT_INTERVAL, "100")),
        Long.parseLong(props.getOrDefault(REPLY_TOPIC_CACHE_MS, "30000")),
        Long.parseLong(props.getOrDefault(REPLY_TOPIC_RECHECK_MS, "1000")),
        Long.parseLong(props.getOrDefault(RETRY_BACKOFF_MS, "100")),
        Long.parseLong(props.getOrDefault(RETRY_BACKOFF_MAX_MS, "5000")));
  }

  /** System properties overlaid on the environment ({@code LORASTREAM_X_Y} → {@code lorastream.x.y}). */
  public static Map<String, String> fromEnvironment() {
    Map<String, String> m = new java.util.HashMap<>();
    System.getenv()
        .forEach(
            (k, v) -> {
              if (k.startsWith("LORASTREAM_")) {
                m.put(k.toLowerCase(Locale.ROOT).replace('_', '.'), v);
              }
            });
    System.getProperties().forEach((k, v) -> m.put(k.toString(), v.toString()));
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
          "missing setting " + key + " (system property -D" + key + " or environment "
              + key.toUpperCase(Locale.ROOT).replace('.', '_').replace('-', '_') + ")");
    }
    return v;
  }
}
