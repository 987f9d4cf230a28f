package dev.lorastream.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GatewayConfigTest {
  @TempDir Path tmp;

  private Map<String, String> required() throws Exception {
    Path keys = tmp.resolve("keys");
    Files.writeString(keys, "acme=sha256:" + TenantKeys.sha256Hex("k") + "\n");
    Map<String, String> m = new HashMap<>();
    m.put(GatewayConfig.BOOTSTRAP, "localhost:9092");
    m.put(GatewayConfig.MODEL, "/models/base");
    m.put(GatewayConfig.KEYS_FILE, keys.toString());
    return m;
  }

  @Test
  void unsetKeysTakeTheirDefaultsAndKafkaSettingsPassThrough() throws Exception {
    Map<String, String> m = required();
    m.put("lorastream.kafka.security.protocol", "SASL_SSL");
    GatewayConfig c = GatewayConfig.from(m);
    assertEquals("0.0.0.0", c.host());
    assertEquals(8000, c.port());
    assertEquals("mock://lorastream", c.schemaRegistryUrl());
    assertEquals(1 << 20, c.maxBodyBytes());
    assertEquals(3072, c.maxPromptTokens());
    assertEquals(Duration.ofSeconds(60), c.timeout());
    assertEquals(16, c.defaultMaxTokens());
    assertEquals(Duration.ofMinutes(10), c.asyncRetention());
    assertEquals(10_000, c.asyncMaxKept());
    assertEquals(
        Path.of(System.getProperty("user.home"), ".lorastream", "gateway"), c.batch().dataDir());
    assertEquals(64, c.batch().concurrency());
    assertEquals(200L << 20, c.batch().maxFileBytes());
    assertEquals(Duration.ofMinutes(10), c.batch().requestTimeout());
    assertEquals(Map.of("security.protocol", "SASL_SSL"), c.kafka());
    assertEquals(1, c.keys().size());
  }

  @Test
  void aMissingRequiredKeyIsNamedWithItsVariable() throws Exception {
    Map<String, String> m = required();
    m.remove(GatewayConfig.KEYS_FILE);
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> GatewayConfig.from(m));
    assertTrue(
        e.getMessage().startsWith("lorastream.gateway.keys.file (LORASTREAM_GATEWAY_KEYS_FILE)"),
        e.getMessage());
  }

  @Test
  void environmentVariablesSetTheirKeysAndSystemPropertiesWin() {
    Properties sys = new Properties();
    sys.setProperty(GatewayConfig.PORT, "9000");
    Map<String, String> m =
        GatewayConfig.fromEnvironment(
            Map.of(
                "LORASTREAM_GATEWAY_PORT", "8001",
                "LORASTREAM_GATEWAY_MAX_BODY_BYTES", "10",
                "PATH", "/bin"),
            sys);
    assertEquals("9000", m.get(GatewayConfig.PORT));
    assertEquals("10", m.get(GatewayConfig.MAX_BODY_BYTES));
    assertEquals(null, m.get("path"));
  }

  @Test
  void theBatchApiKeysSetItsFolderAndLimits() throws Exception {
    Map<String, String> m = required();
    m.put(GatewayConfig.DATA_DIR, "/var/lib/lorastream");
    m.put(GatewayConfig.BATCH_CONCURRENCY, "8");
    m.put(GatewayConfig.BATCH_MAX_FILE_BYTES, "1000");
    m.put(GatewayConfig.BATCH_REQUEST_TIMEOUT_MS, "5000");
    GatewayConfig.Batch b = GatewayConfig.from(m).batch();
    assertEquals(
        new GatewayConfig.Batch(Path.of("/var/lib/lorastream"), 8, 1000, Duration.ofSeconds(5)), b);
    m.put(GatewayConfig.BATCH_CONCURRENCY, "0");
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> GatewayConfig.from(m));
    assertTrue(e.getMessage().contains(GatewayConfig.BATCH_CONCURRENCY), e.getMessage());
  }

  @Test
  void tenancyIsSharedUnlessTopicsIsAskedForAndAnythingElseIsRefused() throws Exception {
    Map<String, String> m = required();
    assertEquals(false, GatewayConfig.from(m).topicsTenancy());
    m.put(GatewayConfig.TENANCY, "topics");
    assertEquals(true, GatewayConfig.from(m).topicsTenancy());
    m.put(GatewayConfig.TENANCY, "tenant");
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> GatewayConfig.from(m));
    assertEquals(
        "lorastream.tenancy=tenant is not a tenancy: shared (default) or topics", e.getMessage());
  }

  @Test
  void eachCopyChangesOnlyItsOwnComponents() throws Exception {
    GatewayConfig c = GatewayConfig.from(required());
    GatewayConfig changed =
        c.withAddress("127.0.0.1", 9)
            .withLimits(10, 11, Duration.ofSeconds(12))
            .withRateLimits(13, 14)
            .withTopicsTenancy(true)
            .withBatch(GatewayConfig.Batch.in(Path.of("/d")));
    assertEquals("127.0.0.1", changed.host());
    assertEquals(9, changed.port());
    assertEquals(10, changed.maxBodyBytes());
    assertEquals(11, changed.maxPromptTokens());
    assertEquals(Duration.ofSeconds(12), changed.timeout());
    assertEquals(13, changed.requestsPerMinute());
    assertEquals(14, changed.tokensPerMinute());
    assertEquals(true, changed.topicsTenancy());
    assertEquals(Path.of("/d"), changed.batch().dataDir());
    // and back: every other component was carried over
    assertEquals(
        c,
        changed
            .withAddress(c.host(), c.port())
            .withLimits(c.maxBodyBytes(), c.maxPromptTokens(), c.timeout())
            .withRateLimits(c.requestsPerMinute(), c.tokensPerMinute())
            .withTopicsTenancy(c.topicsTenancy())
            .withBatch(c.batch()));
  }

  @Test
  void aPortOutOfRangeIsRefused() throws Exception {
    Map<String, String> m = required();
    m.put(GatewayConfig.PORT, "70000");
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> GatewayConfig.from(m));
    assertTrue(e.getMessage().contains("out of range"), e.getMessage());
  }
}
