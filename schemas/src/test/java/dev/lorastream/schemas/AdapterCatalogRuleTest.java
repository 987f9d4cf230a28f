package dev.lorastream.schemas;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.schemas.AdapterCatalogRule.Delete;
import dev.lorastream.schemas.AdapterCatalogRule.Put;
import dev.lorastream.schemas.AdapterCatalogRule.Skip;
import dev.lorastream.schemas.registry.MockSchemaRegistry;
import dev.lorastream.schemas.serde.AvroDecodeException;
import dev.lorastream.schemas.serde.AvroSerdeConfig;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.apache.kafka.common.serialization.Serializer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The one rule both services read {@code lora.adapters} with. */
class AdapterCatalogRuleTest {
  static final String SCOPE = "adapter-catalog-rule-test";
  static final Map<String, Object> CONFIG =
      Map.of(AvroSerdeConfig.SCHEMA_REGISTRY_URL, MockSchemaRegistry.URL_PREFIX + SCOPE);
  static final String TOPIC = Topics.ADAPTERS.name();

  final AdapterCatalogRule rule = AdapterCatalogRule.of(CONFIG);

  @AfterEach
  void dropScope() {
    MockSchemaRegistry.dropScope(SCOPE);
  }

  static AdapterRecord record(String id, String uri, String sha, long created) {
    return AdapterRecord.newBuilder()
        .setAdapterId(id)
        .setSourceUri(uri)
        .setSha256(sha)
        .setRank(8)
        .setBaseModel("tiny")
        .setCreatedEpochMs(created)
        .build();
  }

  static byte[] bytes(AdapterRecord r) {
    try (Serializer<AdapterRecord> s = Topics.ADAPTERS.valueSerde(CONFIG).serializer()) {
      return s.serialize(TOPIC, r);
    }
  }

  @Test
  void aValidRecordIsPutUnderItsKey() {
    AdapterRecord r = record("a", "file:///adapters/a", null, 1L);
    assertEquals(new Put("a", r), rule.read(TOPIC, null, "a", bytes(r)));
  }

  @Test
  void aNullValueDeletesTheAdapter() {
    assertEquals(new Delete("a"), rule.read(TOPIC, null, "a", null));
  }

  @Test
  void undecodableBytesAreSkippedWithTheDecodeReason() {
    byte[] json = "{\"adapterId\":\"a\"}".getBytes(StandardCharsets.UTF_8);
    Skip s = (Skip) rule.read(TOPIC, null, "a", json);
    assertEquals("BAD_MAGIC", s.reason());
    assertTrue(s.detail().startsWith(AvroDecodeException.class.getName() + ": BAD_MAGIC"));
  }

  @Test
  void aRecordWithoutKeyOrWithAnotherIdOrWithoutSourceIsSkipped() {
    AdapterRecord r = record("a", "file:///adapters/a", null, 1L);
    assertEquals(
        AdapterCatalogRule.NO_KEY, ((Skip) rule.read(TOPIC, null, null, bytes(r))).reason());
    assertEquals(AdapterCatalogRule.NO_KEY, ((Skip) rule.read(TOPIC, null, " ", null)).reason());
    assertEquals(
        AdapterCatalogRule.KEY_MISMATCH, ((Skip) rule.read(TOPIC, null, "b", bytes(r))).reason());
    assertEquals(
        AdapterCatalogRule.NO_SOURCE,
        ((Skip) rule.read(TOPIC, null, "a", bytes(record("a", " ", null, 1L)))).reason());
  }

  @Test
  void anUnreachableRegistryIsThrownNotSkipped() {
    AdapterRecord r = record("a", "file:///adapters/a", null, 1L);
    byte[] b = bytes(r);
    AdapterCatalogRule down =
        new AdapterCatalogRule(
            (topic, data) -> {
              throw new AvroDecodeException(
                  AvroDecodeException.Reason.REGISTRY_UNAVAILABLE, "down", null);
            });
    AvroDecodeException e =
        assertThrows(AvroDecodeException.class, () -> down.read(TOPIC, null, "a", b));
    assertEquals(AvroDecodeException.Reason.REGISTRY_UNAVAILABLE, e.reason());
  }

  @Test
  void weightsChangeWithSourceChecksumRegistrationOrPresence() {
    AdapterRecord r = record("a", "file:///adapters/a", "aa", 1L);
    assertFalse(AdapterCatalogRule.weightsChanged(r, record("a", "file:///adapters/a", "aa", 1L)));
    AdapterRecord otherOwner = record("a", "file:///adapters/a", "aa", 1L);
    otherOwner.setOwnerTenant("t2");
    assertFalse(AdapterCatalogRule.weightsChanged(r, otherOwner));
    assertTrue(AdapterCatalogRule.weightsChanged(r, record("a", "file:///adapters/b", "aa", 1L)));
    assertTrue(AdapterCatalogRule.weightsChanged(r, record("a", "file:///adapters/a", "bb", 1L)));
    assertTrue(AdapterCatalogRule.weightsChanged(r, record("a", "file:///adapters/a", "aa", 2L)));
    assertTrue(AdapterCatalogRule.weightsChanged(r, null));
    assertTrue(AdapterCatalogRule.weightsChanged(null, r));
    assertFalse(AdapterCatalogRule.weightsChanged(null, null));
  }
}
