package dev.lorastream.consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import dev.lorastream.engine.sched.TokenDecoder;
import dev.lorastream.engine.testdata.ModelGenerator;
import dev.lorastream.tokenizer.HfTokenizer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TextDeltasTest {
  /**
   * A byte-level vocabulary: token i is byte i, decoded as UTF-8 with U+FFFD for an incomplete
   * character, as byte-level BPE decoders do.
   */
  private static final TokenDecoder BYTES =
      ids -> {
        byte[] b = new byte[ids.length];
        for (int i = 0; i < ids.length; i++) {
          b[i] = (byte) ids[i];
        }
        return new String(b, StandardCharsets.UTF_8);
      };

  private static List<String> feed(TextDeltas d, String text) {
    List<String> out = new ArrayList<>();
    for (byte b : text.getBytes(StandardCharsets.UTF_8)) {
      out.add(d.next(b & 0xff));
    }
    return out;
  }

  @Test
  void aCharacterSplitOverTokensIsHeldBackUntilItIsWhole() {
    TextDeltas d = new TextDeltas(BYTES, List.of());
    // 'é' is 2 bytes, '世' is 3
    assertEquals(List.of("h", "", "é", "!", "", "", "世"), feed(d, "hé!世"));
    assertEquals(4, d.emitted()); // chars
  }

  @Test
  void textIsCutBeforeAStopStringAndHeldWhileItMayBeginOne() {
    TextDeltas d = new TextDeltas(BYTES, List.of("END"));
    // "E" and "EN" may begin "END": held until the next byte shows they do not
    assertEquals(List.of("a", "", "", "EN", "", "ENb"), feed(d, "aENENb"));
    // nothing of the stop string is handed out, nor anything after it
    assertEquals(List.of("", "", "", ""), feed(d, "ENDx"));
    assertEquals("aENENb".length(), d.emitted());
  }

  @Test
  void withTheGeneratedModelsTokenizerThePiecesAddUpToTheWholeDecode(@TempDir Path tmp)
      throws Exception {
    ModelGenerator.make("tiny", ModelGenerator.Options.defaults(), tmp);
    try (HfTokenizer tok = HfTokenizer.load(tmp)) {
      // a text with multi-byte characters, encoded, then fed token by token
      int[] ids = tok.encode("Grüße aus Zürich: 東京 ☕ and plain words, 2 + 2 = 4.");
      TextDeltas d = new TextDeltas(tok::decode, List.of());
      StringBuilder pieces = new StringBuilder();
      for (int id : ids) {
        String piece = d.next(id);
        assertFalse(piece.contains("\uFFFD"), piece);
        pieces.append(piece);
      }
      assertEquals(tok.decode(ids), pieces.toString());
    }
  }

  @Test
  void theLastChunkCarriesTheRestOfTheResultText() {
    assertEquals("c", TextDeltas.rest("abc", "ab"));
    assertEquals("", TextDeltas.rest("abc", "abc"));
    assertEquals("", TextDeltas.rest("abc", "x"));
  }
}
