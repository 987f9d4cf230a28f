package dev.lorastream.batcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.schemas.EnvKeys;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import org.junit.jupiter.api.Test;

class BatcherConfigTest {

  @Test
  void defaults() {
    BatcherConfig c = BatcherConfig.defaults();
    assertEquals(8192, c.maxBatchTokens());
    assertEquals(32, c.maxBatchRequests());
    assertEquals(8, c.maxDistinctAdapters());
    assertEquals(50, c.maxWaitMs());
    assertEquals(3072, c.maxPromptTokens());
    assertEquals(1024, c.maxNewTokens());
    assertEquals(List.of("lora.replies", "lora.replies.{tenant}"), c.replyTopicPatterns());
    assertEquals(30_000, c.replyTopicCacheMs());
    assertEquals(1_000, c.replyTopicRecheckMs());
    assertEquals(0, c.batchesPartitions());
    assertEquals(2, c.affinitySpread());
    assertEquals(9402, c.metricsPort());
    assertEquals(Map.of(), c.kafka());
  }

  @Test
  void propertiesOverrideDefaultsAndOtherKeysPassThrough() {
    Properties p = new Properties();
    p.setProperty("batcher.max.wait.ms", "20");
    p.setProperty("bootstrap.servers", "localhost:9092");
    BatcherConfig c = BatcherConfig.fromProperties(p);
    assertEquals(20, c.maxWaitMs());
    assertEquals(Map.of("bootstrap.servers", "localhost:9092"), c.kafka());
    assertEquals(c, BatcherConfig.fromProperties(c.toProperties()));
  }

  @Test
  void environmentVariablesMapToKeys() {
    Properties p =
        BatcherConfig.withEnv(
            new Properties(),
            Map.of(
                "BATCHER_MAX_BATCH_REQUESTS",
                "7",
                "KAFKA_BOOTSTRAP_SERVERS",
                "kafka:9092",
                "SCHEMA_REGISTRY_URL",
                "http://sr:8081",
                "HOME",
                "/root"));
    BatcherConfig c = BatcherConfig.fromProperties(p);
    assertEquals(7, c.maxBatchRequests());
    assertEquals(
        Map.of("bootstrap.servers", "kafka:9092", "schema.registry.url", "http://sr:8081"),
        c.kafka());
  }

  @Test
  void everyKeyIsSetByItsEnvironmentVariable() {
    for (String key : BatcherConfig.DEFAULTS.keySet()) {
      Properties p = BatcherConfig.withEnv(new Properties(), Map.of(EnvKeys.variable(key), "v"));
      assertEquals(Map.of(key, "v"), p, EnvKeys.variable(key));
    }
  }

  @Test
  void badValuesFailNamingTheKey() {
    var unknown =
        assertThrows(
            IllegalArgumentException.class,
            () -> BatcherConfig.defaults().with(Map.of("batcher.max.wiat.ms", "5")));
    assertTrue(unknown.getMessage().startsWith("unknown config key batcher.max.wiat.ms"));
    var notInt =
        assertThrows(
            IllegalArgumentException.class,
            () -> BatcherConfig.defaults().with(Map.of(BatcherConfig.MAX_WAIT_MS, "soon")));
    assertEquals("batcher.max.wait.ms=soon is not an integer", notInt.getMessage());
    var tooSmall =
        assertThrows(
            IllegalArgumentException.class,
            () -> BatcherConfig.defaults().with(Map.of(BatcherConfig.MAX_BATCH_TOKENS, "1000")));
    assertTrue(
        tooSmall
            .getMessage()
            .contains("must be >= batcher.max.prompt.tokens + batcher.max.new.tokens = 4096"),
        tooSmall.getMessage());
  }

  @Test
  void replyTopicPatternExpandsTheTenant() {
    assertEquals(
        Set.of("lora.replies", "lora.replies.acme"),
        BatcherConfig.defaults().allowedReplyTopics("acme"));
    BatcherConfig only =
        BatcherConfig.defaults()
            .with(Map.of(BatcherConfig.REPLY_TOPIC_PATTERN, "replies-{tenant}"));
    assertEquals(Set.of("replies-acme"), only.allowedReplyTopics("acme"));
  }
}
