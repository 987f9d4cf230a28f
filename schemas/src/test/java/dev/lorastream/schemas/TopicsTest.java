package dev.lorastream.schemas;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.schemas.registry.MockSchemaRegistry;
import dev.lorastream.schemas.serde.AvroSerdeConfig;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.apache.kafka.common.serialization.Serde;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class TopicsTest {

  private static final String SCOPE = "topics-test";
  private static final Map<String, Object> CONFIG =
      Map.of(AvroSerdeConfig.SCHEMA_REGISTRY_URL, "mock://" + SCOPE);

  @AfterEach
  void dropScope() {
    MockSchemaRegistry.dropScope(SCOPE);
  }

  @Test
  void namesAreTheDesignsAndUnique() {
    Set<String> names = Topics.all().stream().map(Topic::name).collect(Collectors.toSet());
    assertEquals(
        Set.of(
            "lora.requests",
            "lora.batches",
            "lora.replies",
            "lora.adapters",
            "lora.requests.dlq",
            "lora.adapters.dlq",
            "lora.stream",
            "lora.cancel",
            "lora.residency",
            "lora.usage"),
        names);
    assertEquals("lora.requests-value", Topics.REQUESTS.valueSubject());
    assertEquals(Map.of("cleanup.policy", "compact"), Topics.ADAPTERS.topicConfigs());
    assertEquals(Map.of("cleanup.policy", "compact"), Topics.RESIDENCY.topicConfigs());
    assertEquals(Map.of("cleanup.policy", "compact"), Topics.USAGE.topicConfigs());
    assertEquals(Map.of(), Topics.REQUESTS.topicConfigs());
    assertEquals("lora.replies.acme", Topics.replies("lora.replies.acme").name());
    assertEquals(InferenceResult.class, Topics.replies("x").valueType());
  }

  @Test
  void serdesMatchTheDeclaredTypes() {
    try (Serde<String> keys = Topics.ADAPTERS.keySerde(CONFIG);
        Serde<AdapterRecord> values = Topics.ADAPTERS.valueSerde(CONFIG);
        Serde<byte[]> dlq = Topics.REQUESTS_DLQ.valueSerde(CONFIG)) {
      byte[] key = keys.serializer().serialize(Topics.ADAPTERS.name(), "sql-expert");
      assertEquals("sql-expert", keys.deserializer().deserialize(Topics.ADAPTERS.name(), key));
      byte[] value = values.serializer().serialize(Topics.ADAPTERS.name(), Fixtures.adapter());
      assertEquals(
          Fixtures.adapter(), values.deserializer().deserialize(Topics.ADAPTERS.name(), value));
      assertArrayEquals(
          new byte[] {9, 8},
          dlq.deserializer().deserialize("x", dlq.serializer().serialize("x", new byte[] {9, 8})));
    }
    assertTrue(MockSchemaRegistry.forScope(SCOPE).subjects().contains("lora.adapters-value"));
  }
}
