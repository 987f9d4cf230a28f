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
    long commitIntervalMs) {

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

  public ConsumerSettings {
    adapterRoots = List.copyOf(adapterRoots);
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
        Long.parseLong(props.getOrDefault(COMMIT_INTERVAL, "100")));
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
