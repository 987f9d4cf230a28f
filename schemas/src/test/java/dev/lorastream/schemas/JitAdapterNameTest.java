package dev.lorastream.schemas;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** {@code TENANT/NAME} adapter names: what parses, and the message for what does not. */
class JitAdapterNameTest {

  @Test
  void aTenantAndAFolderNameParse() {
    JitAdapterName n = JitAdapterName.parse("acme/sql-v2.1_final");
    assertEquals("acme", n.tenant());
    assertEquals("sql-v2.1_final", n.name());
    assertEquals("acme/sql-v2.1_final", n.toString());
  }

  @Test
  void onlyIdsWithASlashAreJustInTime() {
    assertTrue(JitAdapterName.isJit("acme/x"));
    assertFalse(JitAdapterName.isJit("acme-x"));
    assertFalse(JitAdapterName.isJit(null));
  }

  @Test
  void theTenantPartIsTheTextBeforeTheFirstSlash() {
    assertEquals("beta", JitAdapterName.tenantPart("beta/../acme/x"));
  }

  @Test
  void dotDotIsRefused() {
    assertEquals(
        "adapter 'acme/..': NAME '..' is not a legal adapter folder name: 1 to 128 characters of"
            + " A-Z a-z 0-9 . _ -, and not '.' or '..'",
        assertThrows(IllegalArgumentException.class, () -> JitAdapterName.parse("acme/.."))
            .getMessage());
  }

  @Test
  void aNestedPathIsRefused() {
    assertEquals(
        "adapter 'acme/../beta/x' has more than one '/': a just-in-time adapter is named"
            + " TENANT/NAME, with NAME a single folder name",
        assertThrows(IllegalArgumentException.class, () -> JitAdapterName.parse("acme/../beta/x"))
            .getMessage());
  }

  @Test
  void anIllegalTenantIsRefused() {
    assertEquals(
        "adapter 'Acme/x': 'Acme' is not a tenant name (1 to 48 characters of a-z 0-9 -, starting"
            + " with a letter or digit)",
        assertThrows(IllegalArgumentException.class, () -> JitAdapterName.parse("Acme/x"))
            .getMessage());
  }

  @ParameterizedTest
  @ValueSource(strings = {"acme/", "acme/.", "acme/a b", "acme/a\\b", "acme/é"})
  void illegalNamesAreRefused(String id) {
    assertThrows(IllegalArgumentException.class, () -> JitAdapterName.parse(id));
  }

  @Test
  void nameLengthIsAtMost128() {
    assertEquals(128, JitAdapterName.parse("acme/" + "a".repeat(128)).name().length());
    assertThrows(
        IllegalArgumentException.class, () -> JitAdapterName.parse("acme/" + "a".repeat(129)));
  }
}
