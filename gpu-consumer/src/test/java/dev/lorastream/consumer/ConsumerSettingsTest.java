package dev.lorastream.consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Map;
import org.junit.jupiter.api.Test;

/** The reply-topic and retry keys of {@link ConsumerSettings}: defaults, overrides, bad values named. */
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
  }

  @Test
  void overrides() {
    var props = new java.util.HashMap<>(REQUIRED);
    props.put(ConsumerSettings.REPLY_TOPIC_CACHE_MS, "0");
    props.put(ConsumerSettings.REPLY_TOPIC_RECHECK_MS, "250");
    props.put(ConsumerSettings.RETRY_BACKOFF_MS, "50");
    props.put(ConsumerSettings.RETRY_BACKOFF_MAX_MS, "50");
    ConsumerSettings s = ConsumerSettings.from(props);
    assertEquals(0, s.replyTopicCacheMs());
    assertEquals(250, s.replyTopicRecheckMs());
    assertEquals(50, s.retryBackoffMs());
    assertEquals(50, s.retryBackoffMaxMs());
  }

  @Test
  void aMaxBelowTheInitialBackoffIsRefusedNamingBothKeys() {
    var props = new java.util.HashMap<>(REQUIRED);
    props.put(ConsumerSettings.RETRY_BACKOFF_MAX_MS, "10");
    var e = assertThrows(IllegalArgumentException.class, () -> ConsumerSettings.from(props));
    assertEquals("lorastream.consumer.retry.backoff.max.ms=10 is invalid: must be >="
        + " lorastream.consumer.retry.backoff.ms (100)", e.getMessage());
  }
}
