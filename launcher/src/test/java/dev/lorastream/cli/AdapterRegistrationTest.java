package dev.lorastream.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.lorastream.schemas.AdapterRecord;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The record {@code adapters add} builds, and the ownership rule of add and rm (no broker). */
class AdapterRegistrationTest {
  @TempDir Path tmp;

  private static AdapterRegistration reg(
      String source, String sha, String base, Integer rank, Path localDir) {
    return new AdapterRegistration("acme", "a0", source, sha, base, rank, false, localDir);
  }

  private static String refused(AdapterRegistration r) {
    return assertThrows(IllegalArgumentException.class, () -> r.build(5L)).getMessage();
  }

  @Test
  void aFileSourceIsReadFromLocalDirWhenGivenAndRecordedAsGiven() throws Exception {
    Path host = AdaptersCli.adapter(tmp.resolve("host"), 8, "tiny-llama", "w");
    String sha = AdaptersCli.sha256("w");
    AdapterRecord r =
        reg("file:///adapters/a0", sha.toUpperCase(), null, 8, host).build(5L).record();
    assertEquals(
        AdapterRecord.newBuilder()
            .setAdapterId("a0")
            .setOwnerTenant("acme")
            .setSourceUri("file:///adapters/a0")
            .setSha256(sha)
            .setRank(8)
            .setBaseModel("tiny-llama")
            .setSizeBytes(1)
            .setCreatedEpochMs(5L)
            .build(),
        r);
  }

  @Test
  void theBaseModelComesFromTheArgumentWhenTheConfigHasNone() throws Exception {
    Path dir = AdaptersCli.adapter(tmp.resolve("a0"), 4, null, "w");
    String uri = dir.toUri().toString();
    assertEquals("m", reg(uri, null, "m", null, null).build(5L).record().getBaseModel());
    assertEquals(
        "--source "
            + uri
            + ": adapter_config.json has no base_model_name_or_path; give --base-model",
        refused(reg(uri, null, null, null, null)));
  }

  @Test
  void badRanksSourcesAndFoldersAreRefusedNamingTheArgument() throws Exception {
    Path dir = AdaptersCli.adapter(tmp.resolve("a0"), 4, "tiny-llama", "w");
    String uri = dir.toUri().toString();
    assertEquals(
        "--rank 8 differs from r=4 in --source " + uri, refused(reg(uri, null, null, 8, null)));
    assertEquals(
        "--rank 0 is not a servable LoRA rank: 1 to 256", refused(reg(uri, null, null, 0, null)));
    assertEquals(
        "--source 'file://host/a0' is not an absolute local file:// URI; write"
            + " file:///absolute/path/to/adapter",
        refused(reg("file://host/a0", null, null, null, null)));
    assertEquals(
        "--source 'https:///a0' has no host; write https://host/path",
        refused(reg("https:///a0", null, "m", 4, null)));
    assertEquals(
        "--local-dir is only for a file:// --source; an http(s) source is not read by add",
        refused(reg("https://h/a0", null, "m", 4, dir)));
    Path empty = tmp.resolve("empty");
    String message = refused(reg(empty.toUri().toString(), null, null, null, null));
    assertEquals(
        "--source " + empty.toUri() + ": ",
        message.substring(0, ("--source " + empty.toUri() + ": ").length()),
        message);
  }

  @Test
  void ownershipRefusesOtherTenantsAndPrivatizingAPublicAdapter() {
    AdapterRecord globex =
        AdapterRecord.newBuilder()
            .setAdapterId("b0")
            .setOwnerTenant("globex")
            .setSourceUri("file:///b0")
            .setRank(4)
            .setBaseModel("m")
            .setCreatedEpochMs(1L)
            .build();
    AdapterRecord pub = AdapterRecord.newBuilder(globex).setOwnerTenant(null).build();
    assertNull(CatalogOwnership.refuseAdd(null, "acme", false));
    assertNull(CatalogOwnership.refuseAdd(globex, "globex", true));
    assertNull(CatalogOwnership.refuseAdd(pub, "acme", true));
    assertNull(CatalogOwnership.refuseRm(pub, "b0", "acme"));
    assertNull(CatalogOwnership.refuseRm(globex, "b0", "globex"));
    assertEquals(
        List.of(
            "adapter b0 belongs to tenant globex; choose another --id",
            "adapter b0 is public; replace it with --public, or remove it first (adapters rm)",
            "adapter b0 belongs to tenant globex, not acme",
            "adapter b0 is not registered on lora.adapters"),
        List.of(
            CatalogOwnership.refuseAdd(globex, "acme", true),
            CatalogOwnership.refuseAdd(pub, "acme", false),
            CatalogOwnership.refuseRm(globex, "b0", "acme"),
            CatalogOwnership.refuseRm(null, "b0", "acme")));
  }
}
