package dev.lorastream.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code bench peer}'s handling of llama-batched-bench, with a stand-in script for the binary (the
 * tests never need llama.cpp): its jsonl rows are read by batch size, anything else it prints is
 * ignored, and a failure or a missing binary is a clear error.
 */
class PeerBenchTest {

  private static Path script(Path dir, String body) throws Exception {
    Path s = dir.resolve("llama-batched-bench");
    Files.writeString(s, "#!/bin/sh\n" + body);
    Files.setPosixFilePermissions(s, PosixFilePermissions.fromString("rwxr-xr-x"));
    return s;
  }

  @Test
  void readsTheJsonlRowsByBatchSize(@TempDir Path tmp) throws Exception {
    Path bin =
        script(
            tmp,
            """
            echo "main: n_kv_max = 4096, n_batch = 2048"
            echo '{"n_kv_max": 4096, "pp": 16, "tg": 8, "pl": 1, "speed_pp": 130.5, "speed_tg": 17.25}'
            echo '{"n_kv_max": 4096, "pp": 16, "tg": 8, "pl": 32, "speed_pp": 250.0, "speed_tg": 160.0}'
            echo "llama_perf_context_print: done"
            """);
    Map<Integer, JsonNode> rows =
        PeerBench.batchedBench(bin, tmp.resolve("m.gguf"), 2, 16, 8, "1,32");
    assertEquals(2, rows.size());
    assertEquals(17.25, rows.get(1).get("speed_tg").asDouble());
    assertEquals(160.0, rows.get(32).get("speed_tg").asDouble());
  }

  @Test
  void aFailingRunIsAnErrorWithItsOutput(@TempDir Path tmp) throws Exception {
    Path bin = script(tmp, "echo 'error: unable to load model'\nexit 1\n");
    var e =
        assertThrows(
            IllegalStateException.class,
            () -> PeerBench.batchedBench(bin, tmp.resolve("m.gguf"), 2, 16, 8, "1"));
    assertTrue(e.getMessage().startsWith("llama-batched-bench failed (exit 1)"), e.getMessage());
    assertTrue(e.getMessage().contains("error: unable to load model"), e.getMessage());
  }

  @Test
  void aMissingBinarySaysHowToBuildIt(@TempDir Path tmp) {
    StringWriter err = new StringWriter();
    int code =
        new CommandLine(new PeerBench())
            .setErr(new PrintWriter(err, true))
            .execute("--llama-cpp", tmp.resolve("nope").toString(), "--work", tmp.toString());
    assertEquals(1, code);
    assertTrue(
        err.toString().contains("build it once with scripts/peer-llama-cpp.sh"), err.toString());
  }
}
