package dev.lorastream.engine.testdata;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TokenizerJsonTest {
  @TempDir Path tmp;

  @BeforeAll
  static void ownDjlCache() {
    System.setProperty("DJL_CACHE_DIR", Path.of("target", "djl").toAbsolutePath().toString());
  }

  @Test
  void bytesToUnicodeIsGpt2sBijection() {
    String[] m = TokenizerJson.bytesToUnicode();
    assertEquals("Ġ", m[' ']);
    assertEquals("Ċ", m['\n']);
    assertEquals("A", m['A']);
    assertEquals(256, new HashSet<>(java.util.Arrays.asList(m)).size());
  }

  @Test
  void loadsInDjlAndRoundTripsText() throws Exception {
    Path file = tmp.resolve("tokenizer.json");
    TokenizerJson.write(file, TokenizerJson.DEFAULT_MERGES);
    int size = TokenizerJson.vocabSize(TokenizerJson.DEFAULT_MERGES);
    assertEquals(512, size);
    try (HuggingFaceTokenizer tok = HuggingFaceTokenizer.newInstance(file)) {
      for (String text :
          new String[] {
            "The model reads the request, and writes the answer to the topic.",
            "Ünïcödé ✓ 🦙, tabs\tand\nnew lines  with trailing spaces  ",
            "x",
            "1234567890 !@#$%^&*() \"quoted\""
          }) {
        long[] ids = tok.encode(text).getIds();
        assertEquals(TokenizerJson.BOS_ID, ids[0], "Llama's post-processor prepends <s>");
        for (int i = 1; i < ids.length; i++) {
          assertTrue(
              ids[i] >= TokenizerJson.BYTE_OFFSET && ids[i] < size,
              "id " + ids[i] + " for " + text);
        }
        assertEquals(text, tok.decode(ids, true), "round trip");
      }
      long[] common = tok.encode("the request").getIds();
      assertTrue(
          common.length - 1 < "the request".length(), "merges apply: " + common.length + " tokens");
      assertArrayEquals(
          new long[] {TokenizerJson.BOS_ID, TokenizerJson.BOS_ID}, tok.encode("<s>").getIds());
      assertEquals(
          "<s></s>", tok.decode(new long[] {TokenizerJson.BOS_ID, TokenizerJson.EOS_ID}, false));
      long[] all = new long[size];
      for (int i = 0; i < size; i++) {
        all[i] = i;
      }
      assertTrue(tok.decode(all, true).length() > 256, "every id decodes");
      // 32000-vocab presets: ids past the tokenizer (never produced by encode) are dropped by
      // decode
      assertEquals(
          tok.decode(new long[] {300, 301}), tok.decode(new long[] {300, 20000, 301, 31999}));
    }
  }

  @Test
  void isDeterministicAndHasDistinctIds() throws Exception {
    Path a = tmp.resolve("a.json"), b = tmp.resolve("b.json");
    TokenizerJson.write(a, 100);
    TokenizerJson.write(b, 100);
    assertArrayEquals(Files.readAllBytes(a), Files.readAllBytes(b));
    var vocab = TokenizerJson.build(100).get("model").get("vocab");
    Set<Integer> ids = new HashSet<>();
    vocab.properties().forEach(e -> ids.add(e.getValue().asInt()));
    assertEquals(TokenizerJson.vocabSize(100), ids.size());
    assertEquals(
        TokenizerJson.vocabSize(100) - 1, ids.stream().mapToInt(i -> i).max().orElseThrow());
  }
}
