package dev.lorastream.ingest.bulk;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.schemas.ErrorCode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ResultStoreTest {
  @TempDir Path dir;

  private static ResultRow ok(String id, String text) {
    return new ResultRow(id, "req-" + id, text, "STOP", null, null, 3, 2);
  }

  @Test
  void rowsRoundTripThroughJson() {
    ResultRow ok = ok("a", "line one\n\"quoted\" ✓");
    assertEquals(ok, ResultRow.fromJson(ok.toJson()));
    ResultRow failed = ResultRow.failure("b", null, ErrorCode.DEADLINE_EXCEEDED, "client timeout");
    assertEquals(failed, ResultRow.fromJson(failed.toJson()));
    assertTrue(ok.ok());
    assertFalse(failed.ok());
    assertTrue(failed.toJson().contains("\"error_code\":\"DEADLINE_EXCEEDED\""), failed.toJson());
  }

  @Test
  void resumesFromOutputAndFromTheJournalOfACrashedRun() throws Exception {
    Path out = dir.resolve("results.jsonl");
    Files.writeString(
        out,
        ok("a", "old a").toJson()
            + "\n"
            + ResultRow.failure("b", null, ErrorCode.INTERNAL, "boom").toJson()
            + "\n");
    try (ResultStore crashed = new ResultStore(out)) {
      crashed.append(ok("b", "retried b"));
      crashed.append(ok("c", "c"));
    }
    Files.writeString(
        dir.resolve("results.jsonl.partial"),
        "{\"id\": \"d\", \"fini", // torn by the crash
        java.nio.file.StandardOpenOption.APPEND);
    List<String> skipped = new ArrayList<>();
    Map<String, ResultRow> rows = new ResultStore(out).readPrevious(skipped);
    assertEquals(List.of("a", "b", "c"), List.copyOf(rows.keySet()));
    assertEquals("retried b", rows.get("b").text(), "the journal is newer than the output");
    assertEquals(1, skipped.size());
    assertTrue(skipped.getFirst().startsWith("results.jsonl.partial line 3"), skipped.getFirst());
  }

  @Test
  void writeFinalReplacesTheOutputAndDropsTheJournal() throws Exception {
    Path out = dir.resolve("results.jsonl");
    ResultStore store = new ResultStore(out);
    store.append(ok("z", "z"));
    assertTrue(Files.exists(store.journal()));
    store.writeFinal(List.of(ok("x", "1"), ok("y", "2")));
    assertFalse(Files.exists(store.journal()));
    assertFalse(Files.exists(dir.resolve("results.jsonl.tmp")));
    List<String> lines = Files.readAllLines(out);
    assertEquals(List.of("x", "y"), lines.stream().map(l -> ResultRow.fromJson(l).id()).toList());
  }
}
