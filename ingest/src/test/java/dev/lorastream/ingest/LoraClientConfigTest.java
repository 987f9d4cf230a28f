package dev.lorastream.ingest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

class LoraClientConfigTest {

  @Test
  void defaultsAndKeys() {
    LoraClientConfig c = LoraClientConfig.of("k:9092", "mock://x");
    assertEquals("lora.replies", c.replyTopic());
    assertEquals(Duration.ofSeconds(60), c.defaultTimeout());
    assertTrue(c.clientId().startsWith("lorastream-client-"));

    LoraClientConfig m =
        LoraClientConfig.fromMap(
            Map.of(
                "bootstrap.servers",
                "k:9092",
                "schema.registry.url",
                "http://r:8081",
                "lorastream.reply.topic",
                "replies.t1",
                "client.id",
                "svc",
                "lorastream.request.timeout.ms",
                "1500",
                "security.protocol",
                "SSL"));
    assertEquals("replies.t1", m.replyTopic());
    assertEquals("svc", m.clientId());
    assertEquals(Duration.ofMillis(1500), m.defaultTimeout());
    assertEquals(Map.of("security.protocol", "SSL"), m.kafkaOverrides());
  }

  @Test
  void missingOrBadValuesAreNamed() {
    var e =
        assertThrows(
            IllegalArgumentException.class,
            () -> LoraClientConfig.fromMap(Map.of("schema.registry.url", "mock://x")));
    assertEquals("bootstrap.servers is required", e.getMessage());
    var t =
        assertThrows(
            IllegalArgumentException.class,
            () -> LoraClientConfig.of("k", "mock://x").withDefaultTimeout(Duration.ZERO));
    assertTrue(t.getMessage().startsWith("lorastream.request.timeout.ms must be > 0"));
  }
}
