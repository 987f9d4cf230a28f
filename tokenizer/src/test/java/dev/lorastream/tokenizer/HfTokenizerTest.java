package dev.lorastream.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class HfTokenizerTest {

  /**
   * A model dir whose tokenizer.json is a WordLevel vocabulary: [UNK]=0 hello=1 world=2 the=3
   * document=4.
   */
  static Path modelDir() throws URISyntaxException {
    return Path.of(HfTokenizerTest.class.getResource("/model/tokenizer.json").toURI()).getParent();
  }

  @Test
  void encodesWithTheModelsTokenizerJson() throws Exception {
    try (HfTokenizer tok = HfTokenizer.load(modelDir())) {
      assertEquals(List.of(1, 2, 0), tok.encodeToList("Hello world unknown"));
      assertEquals(List.of(3, 4), tok.encodeToList("the   DOCUMENT"));
      assertEquals(List.of(), tok.encodeToList(""));
    }
    try (HfTokenizer tok = HfTokenizer.load(modelDir().resolve("tokenizer.json"))) {
      assertEquals(List.of(1), tok.encodeToList("hello"), "the file itself is accepted too");
      assertArrayEquals(new int[] {1, 2}, tok.encode("hello world"));
      assertEquals("hello world", tok.decode(new int[] {1, 2}));
    }
  }

  @Test
  void missingOrBrokenTokenizerIsNamed(@TempDir Path dir) throws Exception {
    var missing = assertThrows(IllegalArgumentException.class, () -> HfTokenizer.load(dir));
    assertTrue(missing.getMessage().contains("tokenizer.json"), missing.getMessage());
    java.nio.file.Files.writeString(dir.resolve("tokenizer.json"), "{\"not\": \"a tokenizer\"}");
    var broken = assertThrows(IllegalArgumentException.class, () -> HfTokenizer.load(dir));
    assertTrue(
        broken.getMessage().contains("cannot be loaded as a tokenizer"), broken.getMessage());
  }
}
