package dev.lorastream.ingest.bulk;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.StringReader;
import java.util.List;
import org.junit.jupiter.api.Test;

class JsonlInputTest {

  private static JsonlInput parse(String... lines) throws Exception {
    return JsonlInput.parse(new BufferedReader(new StringReader(String.join("\n", lines))));
  }

  @Test
  void readsDocumentsInOrderWithOptionalParams() throws Exception {
    JsonlInput in =
        parse(
            "{\"id\": \"a\", \"text\": \"first\"}",
            "",
            "{\"id\": \"b\", \"text\": \"second\", \"max_tokens\": 64, \"temperature\": 0.7, \"extra\": true}",
            "{\"id\": 17, \"text\": \"numeric id\", \"max_tokens\": null}");
    assertEquals(List.of("a", "b", "17"), in.docs().stream().map(BulkDoc::id).toList());
    assertEquals(new BulkDoc(1, "a", "first", null, null, null), in.docs().get(0));
    BulkDoc b = in.docs().get(1);
    assertEquals(3, b.line());
    assertEquals(64, b.maxTokens());
    assertEquals(0.7f, b.temperature());
    assertNull(in.docs().get(2).maxTokens());
    assertTrue(in.malformed().isEmpty());
  }

  @Test
  void badLinesAreReportedByLineNumberNeverThrown() throws Exception {
    JsonlInput in =
        parse(
            "{\"id\": \"ok\", \"text\": \"fine\"}",
            "{not json",
            "[1, 2]",
            "{\"text\": \"no id\"}",
            "{\"id\": \"\", \"text\": \"blank id\"}",
            "{\"id\": \"no-text\"}",
            "{\"id\": \"bad-max\", \"text\": \"x\", \"max_tokens\": 0}",
            "{\"id\": \"frac-max\", \"text\": \"x\", \"max_tokens\": 2.5}",
            "{\"id\": \"bad-temp\", \"text\": \"x\", \"temperature\": \"hot\"}",
            "{\"id\": \"ok\", \"text\": \"again\"}");
    assertEquals(
        List.of("ok", "no-text", "bad-max", "frac-max", "bad-temp"),
        in.docs().stream().map(BulkDoc::id).toList());
    assertNull(in.docs().getFirst().invalid());
    assertEquals("line 6: \"text\" missing or not a string", in.docs().get(1).invalid());
    assertTrue(in.docs().get(2).invalid().contains("max_tokens"));
    assertTrue(in.docs().get(3).invalid().contains("max_tokens"));
    assertTrue(in.docs().get(4).invalid().startsWith("line 9: \"temperature\""));
    assertEquals(List.of(2, 3, 4, 5, 10), in.malformed().stream().map(Malformed::line).toList());
    assertTrue(
        in.malformed().get(0).toString().startsWith("line 2: not JSON"),
        in.malformed().get(0).toString());
    assertEquals("line 3: not a JSON object", in.malformed().get(1).toString());
    assertEquals("line 10: id \"ok\" repeats line 1; ignored", in.malformed().get(4).toString());
  }
}
