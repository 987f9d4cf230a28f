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

  @Test
  void forTenantSendsToAndReadsFromTheTenantsTopics() {
    LoraClientConfig c = LoraClientConfig.of("k:9092", "mock://x");
    assertEquals("lora.requests", c.requestTopic());
    LoraClientConfig acme = c.forTenant("acme");
    assertEquals("lora.tenant.acme.requests", acme.requestTopic());
    assertEquals("lora.tenant.acme.replies", acme.replyTopic());
    var bad = assertThrows(IllegalArgumentException.class, () -> c.forTenant("Acme"));
    assertTrue(bad.getMessage().startsWith("'Acme' is not a tenant name"), bad.getMessage());
  }

  @Test
  void tenancyTopicsAndATenantFromTheMapSetBothTopics() {
    Map<String, String> base =
        Map.of("bootstrap.servers", "k:9092", "schema.registry.url", "mock://x");
    Map<String, String> topics = new java.util.HashMap<>(base);
    topics.put("lorastream.tenancy", "topics");
    var missing =
        assertThrows(IllegalArgumentException.class, () -> LoraClientConfig.fromMap(topics));
    assertEquals("lorastream.tenancy=topics needs lorastream.tenant", missing.getMessage());
    topics.put("lorastream.tenant", "globex");
    LoraClientConfig g = LoraClientConfig.fromMap(topics);
    assertEquals("lora.tenant.globex.requests", g.requestTopic());
    assertEquals("lora.tenant.globex.replies", g.replyTopic());
    assertEquals(Map.of(), g.kafkaOverrides());

    Map<String, String> explicit = new java.util.HashMap<>(base);
    explicit.put("lorastream.request.topic", "requests.other");
    assertEquals("requests.other", LoraClientConfig.fromMap(explicit).requestTopic());
  }
}
