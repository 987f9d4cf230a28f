package dev.lorastream.tools;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.lorastream.testing.PythonRef;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Runs the PyTorch reference ({@code engine/src/test/python/llama_lora_ref.py}) on generated tiny
 * models and checks it against itself: merged LoRA equals unmerged LoRA, sharded equals
 * single-file, adapters change the output. Skipped where {@code /usr/bin/python3} has no torch
 * ({@code scripts/ensure-python-ref.sh} installs it).
 */
class PythonReferenceTest {
  @TempDir Path tmp;

  @BeforeAll
  static void needTorch() {
    PythonRef.assumeAvailable();
  }

  static JsonNode runRef(Path model, Path requests, Path out, String... extra) throws Exception {
    return PythonRef.run(model, requests, out, extra);
  }

  static double maxAbsDiff(JsonNode a, JsonNode b) {
    double m = 0;
    for (int t = 0; t < a.size(); t++) {
      for (int v = 0; v < a.get(t).size(); v++) {
        m = Math.max(m, Math.abs(a.get(t).get(v).asDouble() - b.get(t).get(v).asDouble()));
      }
    }
    return m;
  }

  @Test
  void mergedEqualsUnmergedAndAdaptersChangeTheLogits() throws Exception {
    Path model = MakeModelTest.make(tmp.resolve("m"), "--preset", "tiny");
    Path ads = tmp.resolve("ad");
    MakeAdaptersTest.make(
        "--model", model.toString(), "--count", "2", "--ranks", "8,16", "--out", ads.toString());
    Path rs = tmp.resolve("rs");
    MakeAdaptersTest.make(
        "--model",
        model.toString(),
        "--ranks",
        "4",
        "--rslora",
        "--targets",
        "q,o,down",
        "--out",
        rs.toString(),
        "--seed",
        "1");
    String tokens = "[1, 321, 408, 287, 437, 263, 7, 511, 300]";
    Path req = tmp.resolve("req.json");
    Files.writeString(
        req,
        "["
            + String.join(
                ",",
                "{\"tokens\": " + tokens + ", \"adapter\": null}",
                "{\"tokens\": "
                    + tokens
                    + ", \"adapter\": \""
                    + ads.resolve("adapter-0000")
                    + "\"}",
                "{\"tokens\": "
                    + tokens
                    + ", \"adapter\": \""
                    + ads.resolve("adapter-0001")
                    + "\"}",
                "{\"tokens\": [1, 2], \"adapter\": \"" + rs.resolve("adapter-0000") + "\"}")
            + "]");
    JsonNode un = runRef(model, req, tmp.resolve("un.json"), "--greedy", "4");
    JsonNode me = runRef(model, req, tmp.resolve("me.json"), "--greedy", "4", "--merged");
    assertEquals(4, un.size());
    assertEquals(9, un.get(0).get("logits").size(), "one row per position");
    assertEquals(512, un.get(0).get("logits").get(0).size(), "vocab floats per row");
    assertEquals(2, un.get(3).get("logits").size());
    for (int i = 0; i < 4; i++) {
      double d = maxAbsDiff(un.get(i).get("logits"), me.get(i).get("logits"));
      assertTrue(d < 1e-4, "request " + i + ": merged vs unmerged max |diff| " + d);
      assertEquals(4, un.get(i).get("greedy").size());
      assertEquals(un.get(i).get("greedy"), me.get(i).get("greedy"));
    }
    double base = maxAbsDiff(un.get(0).get("logits"), un.get(1).get("logits"));
    assertTrue(base > 0.1, "adapter 0 changes logits visibly: " + base);
    assertTrue(
        maxAbsDiff(un.get(1).get("logits"), un.get(2).get("logits")) > 0.1, "adapters differ");
  }

  @Test
  void shardedBf16Qwen2ModelGivesTheSameLogitsAsSingleFile() throws Exception {
    String[] common = {
      "--arch", "qwen2", "--dtype", "BF16", "--tie-embeddings", "--rope-scaling", "llama3"
    };
    Path one = MakeModelTest.make(tmp.resolve("one"), common);
    String[] sharded = Arrays.copyOf(common, common.length + 2);
    sharded[common.length] = "--shards";
    sharded[common.length + 1] = "4";
    Path four = MakeModelTest.make(tmp.resolve("four"), sharded);
    Path req = tmp.resolve("req.json");
    Files.writeString(req, "[{\"tokens\": [1, 100, 200, 300, 400], \"adapter\": null}]");
    JsonNode a = runRef(one, req, tmp.resolve("a.json"), "--logits", "last");
    JsonNode b = runRef(four, req, tmp.resolve("b.json"), "--logits", "last");
    assertEquals(1, a.get(0).get("logits").size());
    assertEquals(0.0, maxAbsDiff(a.get(0).get("logits"), b.get(0).get("logits")));
  }
}
