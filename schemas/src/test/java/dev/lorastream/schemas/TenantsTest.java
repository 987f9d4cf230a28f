package dev.lorastream.schemas;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Optional;
import org.junit.jupiter.api.Test;

class TenantsTest {

  @Test
  void tenantTopicsAreNamedFromTheTenant() {
    assertEquals("lora.tenant.acme.requests", Tenants.requestsTopic("acme"));
    assertEquals("lora.tenant.acme.replies", Tenants.repliesTopic("acme"));
    assertEquals("lora.tenant.acme.stream", Tenants.streamTopic("acme"));
    assertEquals("lora.tenant.acme.cancel", Tenants.cancelTopic("acme"));
    assertEquals("lora.tenant.acme.usage", Tenants.topic("acme", "usage"));
    assertEquals("lora.tenant.acme", Tenants.group("acme"));
  }

  @Test
  void namesAreLowerCaseLettersDigitsAndDashesUpTo48() {
    assertTrue(Tenants.isName("a"));
    assertTrue(Tenants.isName("acme-2"));
    assertTrue(Tenants.isName("0" + "x".repeat(47)));
    assertFalse(Tenants.isName("0" + "x".repeat(48)));
    for (String bad :
        new String[] {"", "-acme", "Acme", "acme.requests", "acme_2", "ac me", "acmé", "a/b"}) {
      assertFalse(Tenants.isName(bad), bad);
    }
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> Tenants.requestsTopic("acme.x"));
    assertEquals(
        "'acme.x' is not a tenant name: 1 to 48 characters of a-z 0-9 -, starting with a letter or"
            + " digit (no dots or underscores, so that tenant topic names cannot collide)",
        e.getMessage());
  }

  @Test
  void theCancelPatternMatchesOnlyTenantCancelTopics() {
    assertEquals(Optional.of("acme"), Tenants.ofCancelTopic("lora.tenant.acme.cancel"));
    for (String other :
        new String[] {
          "lora.cancel",
          "lora.tenant.acme.stream",
          "lora.tenant.acme.x.cancel",
          "lora.tenant..cancel"
        }) {
      assertEquals(Optional.empty(), Tenants.ofCancelTopic(other), other);
    }
  }

  @Test
  void theRequestsPatternMatchesOnlyTenantRequestTopics() {
    assertEquals(Optional.of("acme"), Tenants.ofRequestsTopic("lora.tenant.acme.requests"));
    assertEquals(Optional.of("acme2"), Tenants.ofRequestsTopic("lora.tenant.acme2.requests"));
    for (String other :
        new String[] {
          "lora.requests",
          "lora.requests.dlq",
          "lora.tenant.acme.replies",
          "lora.tenant.acme.x.requests",
          "lora.tenant.acme.requests.dlq",
          "lora.tenant..requests",
          "lora.tenant.Acme.requests",
          "loraxtenantxacmexrequests"
        }) {
      assertEquals(Optional.empty(), Tenants.ofRequestsTopic(other), other);
    }
  }

  @Test
  void tenancyParsesItsTwoModesAndNamesTheKeyOtherwise() {
    assertEquals(Tenancy.SHARED, Tenancy.parse("k", "shared"));
    assertEquals(Tenancy.TOPICS, Tenancy.parse("k", " TOPICS "));
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> Tenancy.parse("batcher.tenancy", "x"));
    assertEquals("batcher.tenancy=x is invalid: must be one of [shared, topics]", e.getMessage());
  }
}
