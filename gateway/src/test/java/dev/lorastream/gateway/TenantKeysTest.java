package dev.lorastream.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TenantKeysTest {
  @TempDir Path tmp;

  @Test
  void aKeyFileOfDigestsNamesTheTenantOfEachKey() throws Exception {
    Path file = tmp.resolve("keys.properties");
    Files.writeString(
        file,
        "# acme has two keys\n"
            + "acme=sha256:"
            + TenantKeys.sha256Hex("k1")
            + ", sha256:"
            + TenantKeys.sha256Hex("k2")
            + "\nglobex=sha256:"
            + TenantKeys.sha256Hex("k3")
            + "\n");
    TenantKeys keys = TenantKeys.load(file);
    assertEquals(3, keys.size());
    assertEquals(Optional.of("acme"), keys.tenantOf("k1"));
    assertEquals(Optional.of("acme"), keys.tenantOf("k2"));
    assertEquals(Optional.of("globex"), keys.tenantOf("k3"));
    assertEquals(Optional.empty(), keys.tenantOf("k4"));
    assertEquals(Optional.empty(), keys.tenantOf(""));
    assertEquals(Optional.empty(), keys.tenantOf(null));
  }

  @Test
  void theDigestIsSha256InLowerCaseHex() {
    assertEquals(
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        TenantKeys.sha256Hex("abc"));
  }

  @Test
  void aKeyInClearInTheFileIsRefusedSayingHowToHashIt() throws Exception {
    Path file = tmp.resolve("keys.properties");
    Files.writeString(file, "acme=my-secret-key\n");
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> TenantKeys.load(file));
    assertTrue(e.getMessage().contains("tenant 'acme'"), e.getMessage());
    assertTrue(e.getMessage().contains("sha256sum"), e.getMessage());
    assertTrue(!e.getMessage().contains("my-secret-key"), "the key is not echoed");
  }

  @Test
  void oneKeyForTwoTenantsIsRefused() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> TenantKeys.ofPlainKeys(Map.of("acme", "same", "globex", "same")));
    assertTrue(e.getMessage().contains("a key must belong to one tenant"), e.getMessage());
  }

  @Test
  void aMissingFileIsNamed() {
    Path missing = tmp.resolve("nope.properties");
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> TenantKeys.load(missing));
    assertTrue(e.getMessage().contains(missing.toString()), e.getMessage());
  }

  @Test
  void randomKeysDifferPerTenantAndEachFindsItsTenant() {
    Map<String, String> plain = TenantKeys.randomKeys(List.of("acme", "globex"));
    assertEquals(List.of("acme", "globex"), List.copyOf(plain.keySet()));
    assertNotEquals(plain.get("acme"), plain.get("globex"));
    assertTrue(plain.get("acme").startsWith("ls-") && plain.get("acme").length() == 35);
    TenantKeys keys = TenantKeys.ofPlainKeys(plain);
    assertEquals(Optional.of("globex"), keys.tenantOf(plain.get("globex")));
  }
}
