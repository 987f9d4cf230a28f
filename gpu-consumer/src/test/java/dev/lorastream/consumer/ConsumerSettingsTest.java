package dev.lorastream.consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.lorastream.engine.sched.EngineConfig;
import dev.lorastream.schemas.EnvKeys;
import dev.lorastream.schemas.Tenancy;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * {@link ConsumerSettings}: defaults, overrides, bad values named; every key, hyphenated ones
 * included, set from its environment variable; the README's tables list exactly the keys read.
 */
class ConsumerSettingsTest {
  static final Map<String, String> REQUIRED =
      Map.of(ConsumerSettings.BOOTSTRAP, "localhost:9092", ConsumerSettings.MODEL, "/models/m");

  @Test
  void defaults() {
    ConsumerSettings s = ConsumerSettings.from(REQUIRED);
    assertEquals(30_000, s.replyTopicCacheMs());
    assertEquals(1_000, s.replyTopicRecheckMs());
    assertEquals(100, s.retryBackoffMs());
    assertEquals(5_000, s.retryBackoffMaxMs());
    assertEquals(20, s.commitIntervalMs());
    assertEquals(4096, s.offsetMetadataMaxBytes());
    assertEquals(1_000, s.residencyIntervalMs());
  }

  @Test
  void theModelNameDefaultsToTheModelFoldersNameAndDownloadsToATemporaryFolder() {
    ConsumerSettings s = ConsumerSettings.from(REQUIRED);
    assertEquals("m", s.modelName());
    assertNull(s.adapterDownloadDir());
    assertEquals(60_000, s.adapterDownloadTimeoutMs());
  }

  @Test
  void adapterSourceKeysAreRead() {
    Map<String, String> m = new HashMap<>(REQUIRED);
    m.put(ConsumerSettings.MODEL_NAME, "llama-3-8b");
    m.put(ConsumerSettings.ADAPTER_DOWNLOAD_DIR, "/var/cache/lora/../adapters");
    m.put(ConsumerSettings.ADAPTER_DOWNLOAD_TIMEOUT_MS, "1500");
    ConsumerSettings s = ConsumerSettings.from(m);
    assertEquals("llama-3-8b", s.modelName());
    assertEquals(Path.of("/var/cache/adapters"), s.adapterDownloadDir());
    assertEquals(1500, s.adapterDownloadTimeoutMs());
    m.put(ConsumerSettings.ADAPTER_DOWNLOAD_TIMEOUT_MS, "0");
    assertEquals(
        "lorastream.adapters.download-timeout-ms=0 is invalid: must be > 0",
        assertThrows(IllegalArgumentException.class, () -> ConsumerSettings.from(m)).getMessage());
  }

  @Test
  void inflightBatchesDefaultToTheEnginesSequencesPerStepAndAnExplicitValueWins() {
    if (System.getProperty(EngineConfig.STEP_MAX_SEQS) == null) {
      assertEquals(
          EngineConfig.DEFAULT_MAX_SEQS, ConsumerSettings.from(REQUIRED).maxInflightBatches());
    }
    var props = new HashMap<>(REQUIRED);
    props.put(EngineConfig.STEP_MAX_SEQS, "24");
    assertEquals(24, ConsumerSettings.from(props).maxInflightBatches());
    props.put(ConsumerSettings.MAX_INFLIGHT, "7");
    assertEquals(7, ConsumerSettings.from(props).maxInflightBatches());
  }

  @Test
  void overrides() {
    var props = new java.util.HashMap<>(REQUIRED);
    props.put(ConsumerSettings.REPLY_TOPIC_CACHE_MS, "0");
    props.put(ConsumerSettings.REPLY_TOPIC_RECHECK_MS, "250");
    props.put(ConsumerSettings.RETRY_BACKOFF_MS, "50");
    props.put(ConsumerSettings.RETRY_BACKOFF_MAX_MS, "50");
    props.put(ConsumerSettings.COMMIT_INTERVAL_MS, "5");
    props.put(ConsumerSettings.OFFSET_METADATA_MAX_BYTES, "1024");
    props.put(ConsumerSettings.RESIDENCY_INTERVAL_MS, "250");
    ConsumerSettings s = ConsumerSettings.from(props);
    assertEquals(0, s.replyTopicCacheMs());
    assertEquals(250, s.replyTopicRecheckMs());
    assertEquals(50, s.retryBackoffMs());
    assertEquals(50, s.retryBackoffMaxMs());
    assertEquals(5, s.commitIntervalMs());
    assertEquals(1024, s.offsetMetadataMaxBytes());
    assertEquals(250, s.residencyIntervalMs());
  }

  @Test
  void aResidencyIntervalOfZeroTurnsPublishingOffAndANegativeOneIsRefused() {
    var props = new HashMap<>(REQUIRED);
    props.put(ConsumerSettings.RESIDENCY_INTERVAL_MS, "0");
    assertEquals(0, ConsumerSettings.from(props).residencyIntervalMs());
    props.put(ConsumerSettings.RESIDENCY_INTERVAL_MS, "-1");
    var e = assertThrows(IllegalArgumentException.class, () -> ConsumerSettings.from(props));
    assertEquals(
        "lorastream.consumer.residency.interval.ms=-1 is invalid: must be >= 0 (0 = off)",
        e.getMessage());
    Map<String, String> env =
        Map.of(
            "LORASTREAM_KAFKA_BOOTSTRAP_SERVERS", "k:9092",
            "LORASTREAM_MODEL_DIR", "/m",
            "LORASTREAM_CONSUMER_RESIDENCY_INTERVAL_MS", "500");
    assertEquals(
        500,
        ConsumerSettings.from(ConsumerSettings.fromEnvironment(env, new Properties()))
            .residencyIntervalMs());
  }

  @Test
  void aCommitIntervalOfZeroAndATinyMetadataLimitAreRefusedNamingTheKey() {
    var props = new java.util.HashMap<>(REQUIRED);
    props.put(ConsumerSettings.COMMIT_INTERVAL_MS, "0");
    var e = assertThrows(IllegalArgumentException.class, () -> ConsumerSettings.from(props));
    assertEquals(
        "lorastream.consumer.commit.interval.ms=0 is invalid: must be > 0", e.getMessage());
    props.remove(ConsumerSettings.COMMIT_INTERVAL_MS);
    props.put(ConsumerSettings.OFFSET_METADATA_MAX_BYTES, "8");
    e = assertThrows(IllegalArgumentException.class, () -> ConsumerSettings.from(props));
    assertEquals(
        "lorastream.consumer.offset.metadata.max.bytes=8 is invalid: must be >= 16 (the brokers'"
            + " offset.metadata.max.bytes, 4096 by default)",
        e.getMessage());
  }

  @Test
  void aMaxBelowTheInitialBackoffIsRefusedNamingBothKeys() {
    var props = new java.util.HashMap<>(REQUIRED);
    props.put(ConsumerSettings.RETRY_BACKOFF_MAX_MS, "10");
    var e = assertThrows(IllegalArgumentException.class, () -> ConsumerSettings.from(props));
    assertEquals(
        "lorastream.consumer.retry.backoff.max.ms=10 is invalid: must be >="
            + " lorastream.consumer.retry.backoff.ms (100)",
        e.getMessage());
  }

  @Test
  void theEnvironmentVariableOfAHyphenatedKeyReachesIt() {
    Map<String, String> env =
        Map.of(
            "LORASTREAM_KAFKA_BOOTSTRAP_SERVERS", "kafka:9092",
            "LORASTREAM_MODEL_DIR", "/models/base",
            "LORASTREAM_CONSUMER_MAX_INFLIGHT_BATCHES", "3",
            "LORASTREAM_ADAPTERS_MAX_BYTES", "1024",
            "HOME", "/root");
    ConsumerSettings s =
        ConsumerSettings.from(ConsumerSettings.fromEnvironment(env, new Properties()));
    assertEquals("kafka:9092", s.bootstrapServers());
    assertEquals(Path.of("/models/base"), s.modelDir());
    assertEquals(3, s.maxInflightBatches());
    assertEquals(1024, s.adapterMaxBytes());
  }

  @Test
  void aSystemPropertyWinsOverTheEnvironment() {
    Properties sys = new Properties();
    sys.setProperty(ConsumerSettings.MAX_INFLIGHT, "5");
    Map<String, String> m =
        ConsumerSettings.fromEnvironment(
            Map.of("LORASTREAM_CONSUMER_MAX_INFLIGHT_BATCHES", "3"), sys);
    assertEquals("5", m.get(ConsumerSettings.MAX_INFLIGHT));
  }

  @Test
  void anEngineKeyFromTheEnvironmentReachesTheEngine() {
    String before = System.getProperty(EngineConfig.BLOCK_SIZE);
    try {
      System.clearProperty(EngineConfig.BLOCK_SIZE);
      ConsumerSettings.exportEngineKeys(
          ConsumerSettings.fromEnvironment(
              Map.of("LORASTREAM_KV_BLOCK_SIZE", "32"), new Properties()));
      assertEquals(32, EngineConfig.defaults().blockSize());
    } finally {
      if (before == null) {
        System.clearProperty(EngineConfig.BLOCK_SIZE);
      } else {
        System.setProperty(EngineConfig.BLOCK_SIZE, before);
      }
    }
  }

  @Test
  void lorastreamKafkaKeysArePassedToTheKafkaClientsWithoutThePrefix() {
    Map<String, String> env =
        Map.of(
            "LORASTREAM_KAFKA_BOOTSTRAP_SERVERS", "k:9092",
            "LORASTREAM_MODEL_DIR", "/m",
            "LORASTREAM_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT",
            "LORASTREAM_KAFKA_SASL_MECHANISM", "PLAIN",
            "LORASTREAM_KAFKA_ISOLATION_LEVEL", "read_uncommitted");
    ConsumerSettings s =
        ConsumerSettings.from(ConsumerSettings.fromEnvironment(env, new Properties()));
    assertEquals(
        Map.of(
            "security.protocol", "SASL_PLAINTEXT",
            "sasl.mechanism", "PLAIN",
            "isolation.level", "read_uncommitted"),
        s.kafka());
    assertEquals(
        Map.of(
            "bootstrap.servers", "k:9092",
            "security.protocol", "SASL_PLAINTEXT",
            "sasl.mechanism", "PLAIN",
            "isolation.level", "read_committed"),
        s.clientConfig(Map.of("isolation.level", "read_committed")),
        "what the service fixes wins over a pass-through key");
  }

  @Test
  void tenancyIsSharedUnlessTopicsIsAsked() {
    assertEquals(Tenancy.SHARED, ConsumerSettings.from(REQUIRED).tenancy());
    Map<String, String> topics = new HashMap<>(REQUIRED);
    topics.put(ConsumerSettings.TENANCY, "topics");
    assertEquals(Tenancy.TOPICS, ConsumerSettings.from(topics).tenancy());
    topics.put(ConsumerSettings.TENANCY, "tenants");
    var e = assertThrows(IllegalArgumentException.class, () -> ConsumerSettings.from(topics));
    assertEquals(
        "lorastream.tenancy=tenants is invalid: must be one of [shared, topics]", e.getMessage());
  }

  @Test
  void everyDocumentedKeyIsReadAndSettableFromTheEnvironment() throws IOException {
    Set<String> documented = readmeKeys();
    Set<String> read = new LinkedHashSet<>(ConsumerSettings.KEYS);
    read.addAll(ConsumerSettings.ENGINE_KEYS);
    assertEquals(
        read, documented, "README.md's engine and consumer tables vs the keys the consumer reads");
    for (String key : documented) {
      Map<String, String> m =
          ConsumerSettings.fromEnvironment(Map.of(EnvKeys.variable(key), "x"), new Properties());
      assertEquals(Map.of(key, "x"), m, EnvKeys.variable(key));
    }
  }

  /** The {@code lorastream.*} keys in the first column of README.md's configuration tables. */
  private static Set<String> readmeKeys() throws IOException {
    String readme = Files.readString(Path.of("../README.md"));
    String config = readme.substring(readme.indexOf("## Configuration"));
    config = config.substring(0, config.indexOf("\n## ", 1));
    Set<String> keys = new LinkedHashSet<>();
    Matcher m = Pattern.compile("(?m)^\\| `(lorastream\\.[^`]+)` \\|").matcher(config);
    while (m.find()) {
      keys.add(m.group(1));
    }
    return keys;
  }
}
