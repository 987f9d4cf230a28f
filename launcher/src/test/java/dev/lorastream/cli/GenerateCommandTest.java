package dev.lorastream.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class GenerateCommandTest {
  @TempDir Path tmp;

  private static String run(String... args) {
    PrintStream old = System.out;
    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
    try {
      int rc = new CommandLine(new Main()).execute(args);
      assertEquals(0, rc, String.join(" ", args));
    } finally {
      System.setOut(old);
    }
    return buf.toString(StandardCharsets.UTF_8);
  }

  @Test
  void jsonOutputHasPromptTokensGeneratedIdsAndTextAndAnAdapterChangesThem() throws Exception {
    Path model = tmp.resolve("m");
    run("make-model", "--preset", "tiny", "--out", model.toString());
    run(
        "make-adapters",
        "--model",
        model.toString(),
        "--count",
        "1",
        "--ranks",
        "8",
        "--out",
        tmp.resolve("a").toString());
    ObjectMapper om = new ObjectMapper();
    JsonNode base =
        om.readTree(
            run(
                "generate",
                "--model",
                model.toString(),
                "--prompt",
                "Hello",
                "--max-tokens",
                "6",
                "--json"));
    assertEquals(1, base.get("prompt_tokens").get(0).asInt(), "BOS first");
    assertEquals(6, base.get("tokens").size());
    assertEquals("length", base.get("finish_reason").asText());
    assertTrue(base.get("text").isTextual());
    JsonNode again =
        om.readTree(
            run(
                "generate",
                "--model",
                model.toString(),
                "--prompt",
                "Hello",
                "--max-tokens",
                "6",
                "--json"));
    assertEquals(base.get("tokens"), again.get("tokens"), "greedy is deterministic");
    JsonNode adapted =
        om.readTree(
            run(
                "generate",
                "--model",
                model.toString(),
                "--adapter",
                tmp.resolve("a/adapter-0000").toString(),
                "--prompt",
                "Hello",
                "--max-tokens",
                "6",
                "--json"));
    assertNotEquals(base.get("tokens"), adapted.get("tokens"));
  }
}
