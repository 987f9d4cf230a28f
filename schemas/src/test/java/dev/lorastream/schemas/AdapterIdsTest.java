package dev.lorastream.schemas;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class AdapterIdsTest {

  @Test
  void idsAreLettersDigitsDotsUnderscoresAndDashesUpTo128() {
    for (String good :
        new String[] {"a", "sql-v2", "Llama_3.1-chat", "0", "a".repeat(AdapterIds.MAX_LENGTH)}) {
      assertTrue(AdapterIds.isId(good), good);
      assertEquals(good, AdapterIds.requireId(good));
    }
    for (String bad :
        new String[] {
          "", ".", "..", "-x", ".hidden", "_x", "a b", "sqlé", "a:b", "a".repeat(129), "acme/sql"
        }) {
      assertFalse(AdapterIds.isId(bad), bad);
    }
    assertFalse(AdapterIds.isId(null));
  }

  @Test
  void requireIdSaysWhatAnIdMustBe() {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> AdapterIds.requireId("a b"));
    assertEquals(
        "'a b' is not an adapter id: 1 to 128 characters of A-Z a-z 0-9 . _ -, starting with a"
            + " letter or digit",
        e.getMessage());
  }

  @Test
  void aSlashIsReservedForTenantFolderAdapters() {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> AdapterIds.requireId("acme/sql"));
    assertEquals(
        "'acme/sql' is not an adapter id: 1 to 128 characters of A-Z a-z 0-9 . _ -, starting with"
            + " a letter or digit ('/' is reserved for TENANT/NAME adapters resolved from a"
            + " tenant's folder, which are not registered)",
        e.getMessage());
  }
}
