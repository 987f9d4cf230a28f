package dev.lorastream.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.consumer.AdapterCatalog;
import dev.lorastream.schemas.serde.AvroSerdeConfig;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What {@code ./lorastream adapters add} and {@code rm} write reaches every inference consumer
 * without a restart: two {@link AdapterCatalog} readers, as two consumer replicas hold, both see
 * the adapter appear and disappear, and both tell their change listener (the engine's {@code
 * invalidateAdapter}) each time.
 */
class AdapterCatalogReplicasTest {
  @TempDir Path tmp;

  @Test
  void bothReplicasSeeTheAddAndTheRemoveAndHearOfBoth() throws Exception {
    Path a0 = AdaptersCli.adapter(tmp.resolve("a0"), 4, "tiny-llama", "weights-a0");
    try (AdaptersCli cli = AdaptersCli.start("adapter-catalog-replicas-test")) {
      Map<String, Object> kafka = Map.of("bootstrap.servers", cli.bootstrap());
      Map<String, Object> serde = Map.of(AvroSerdeConfig.SCHEMA_REGISTRY_URL, cli.registry());
      try (AdapterCatalog one = new AdapterCatalog(kafka, serde);
          AdapterCatalog two = new AdapterCatalog(kafka, serde)) {
        List<String> heardByOne = new CopyOnWriteArrayList<>();
        List<String> heardByTwo = new CopyOnWriteArrayList<>();
        one.onChange(heardByOne::add);
        two.onChange(heardByTwo::add);
        assertTrue(one.awaitCaughtUp(Duration.ofSeconds(30)), "replica one caught up");
        assertTrue(two.awaitCaughtUp(Duration.ofSeconds(30)), "replica two caught up");

        AdaptersCli.Run add =
            cli.run("add", "--tenant", "acme", "--id", "a0", "--source", "" + a0.toUri());
        assertEquals(0, add.code(), add.err());
        assertNotNull(one.get("a0", Duration.ofSeconds(20)), "replica one sees the add");
        assertNotNull(two.get("a0", Duration.ofSeconds(20)), "replica two sees the add");
        assertEquals("acme", one.get("a0", Duration.ZERO).getOwnerTenant());
        waitUntil(() -> heardByOne.size() == 1 && heardByTwo.size() == 1, "both hear of the add");

        AdaptersCli.Run rm = cli.run("rm", "--tenant", "acme", "--id", "a0");
        assertEquals(0, rm.code(), rm.err());
        waitUntil(
            () -> heardByOne.size() == 2 && heardByTwo.size() == 2, "both hear of the tombstone");
        assertNull(one.get("a0", Duration.ZERO), "replica one dropped it");
        assertNull(two.get("a0", Duration.ZERO), "replica two dropped it");
        assertEquals(List.of("a0", "a0"), heardByOne);
        assertEquals(List.of("a0", "a0"), heardByTwo);
      }
    }
  }

  private static void waitUntil(BooleanSupplier cond, String what) throws InterruptedException {
    long end = System.nanoTime() + 20_000_000_000L;
    while (!cond.getAsBoolean()) {
      if (System.nanoTime() > end) {
        throw new AssertionError("timed out waiting until " + what);
      }
      Thread.sleep(50);
    }
  }
}
