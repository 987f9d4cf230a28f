package dev.lorastream.ingest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PromptTokenizerTest {

  /** A model dir whose tokenizer.json is a WordLevel vocabulary: [UNK]=0 hello=1 world=2 the=3 document=4. */
  static Path modelDir() throws URISyntaxException {
    return Path.of(PromptTokenizerTest.class.getResource("/model/tokenizer.json").toURI()).getParent();
  }

  @Test
  void encodesWithTheModelsTokenizerJson() throws Exception {
    try (PromptTokenizer tok = PromptTokenizer.load(modelDir())) {
      assertEquals(List.of(1, 2, 0), tok.encode("Hello world unknown"));
      assertEquals(List.of(3, 4), tok.encode("the   DOCUMENT"));
      assertEquals(List.of(), tok.encode(""));
    }
    try (PromptTokenizer tok = PromptTokenizer.load(modelDir().resolve("tokenizer.json"))) {
      assertEquals(List.of(1), tok.encode("hello"), "the file itself is accepted too");
    }
  }

  @Test
  void missingOrBrokenTokenizerIsNamed(@TempDir Path dir) throws Exception {
    var missing = assertThrows(IllegalArgumentException.class, () -> PromptTokenizer.load(dir));
    assertTrue(missing.getMessage().contains("tokenizer.json"), missing.getMessage());
    java.nio.file.Files.writeString(dir.resolve("tokenizer.json"), "{\"not\": \"a tokenizer\"}");
    var broken = assertThrows(IllegalArgumentException.class, () -> PromptTokenizer.load(dir));
    assertTrue(broken.getMessage().contains("cannot be loaded as a tokenizer"), broken.getMessage());
  }
}
