package dev.lorastream.schemas;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.junit.jupiter.api.Test;

/**
 * The one environment-variable rule: key upper-cased, {@code .} and {@code -} to {@code _}; and
 * back.
 */
class EnvKeysTest {
  static final EnvKeys KEYS =
      EnvKeys.of(
          List.of(
              "lorastream.consumer.max-inflight-batches",
              "lorastream.model.dir",
              "batcher.max.wait.ms"));

  @Test
  void aKeysVariableIsItUpperCasedWithDotsAndHyphensAsUnderscores() {
    assertEquals(
        "LORASTREAM_CONSUMER_MAX_INFLIGHT_BATCHES",
        EnvKeys.variable("lorastream.consumer.max-inflight-batches"));
    assertEquals("LORASTREAM_MODEL_DIR", EnvKeys.variable("lorastream.model.dir"));
  }

  @Test
  void theVariableOfAHyphenatedKeyMapsBackToIt() {
    assertEquals(
        "lorastream.consumer.max-inflight-batches",
        KEYS.key("LORASTREAM_CONSUMER_MAX_INFLIGHT_BATCHES"));
    assertEquals("lorastream.model.dir", KEYS.key("LORASTREAM_MODEL_DIR"));
    assertEquals("batcher.max.wait.ms", KEYS.key("BATCHER_MAX_WAIT_MS"));
  }

  @Test
  void aMisspeltSettingOfAServicesPrefixIsRefusedNamingItsVariableAndTheKnownKeys() {
    List<String> known =
        List.of("lorastream.consumer.max-inflight-batches", "lorastream.consumer.id", "other.key");
    Map<String, String> typo =
        KEYS.overlay(Map.of("LORASTREAM_CONSUMER_MAX_INFLIGT_BATCHES", "8"), new Properties());
    var e =
        assertThrows(
            IllegalArgumentException.class,
            () -> EnvKeys.requireKnown(typo, "lorastream.consumer.", known, "inference consumer"));
    assertEquals(
        "unknown setting lorastream.consumer.max.infligt.batches (system property"
            + " -Dlorastream.consumer.max.infligt.batches or environment"
            + " LORASTREAM_CONSUMER_MAX_INFLIGT_BATCHES) for the inference consumer; its settings"
            + " under lorastream.consumer. are [lorastream.consumer.id,"
            + " lorastream.consumer.max-inflight-batches]",
        e.getMessage());
    // other prefixes (pass-through Kafka settings, other services' keys) are not its business
    EnvKeys.requireKnown(
        Map.of("lorastream.kafka.security.protocol", "SASL_SSL", "lorastream.consumer.id", "c1"),
        "lorastream.consumer.",
        known,
        "inference consumer");
  }

  @Test
  void anUndeclaredVariableIsDotted() {
    assertEquals("lorastream.something.else", KEYS.key("LORASTREAM_SOMETHING_ELSE"));
    assertEquals("state.dir", EnvKeys.dotted("STATE_DIR"));
  }

  @Test
  void twoKeysWithOneVariableAreRefused() {
    var e =
        assertThrows(IllegalArgumentException.class, () -> EnvKeys.of(List.of("a.b-c", "a.b.c")));
    assertEquals(
        "config keys a.b-c and a.b.c have the same environment variable A_B_C", e.getMessage());
  }
}
