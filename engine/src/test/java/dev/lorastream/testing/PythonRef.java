package dev.lorastream.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;

/**
 * Runs the independent PyTorch reference ({@code engine/src/test/python/llama_lora_ref.py}) under
 * Debian's {@code /usr/bin/python3}. Tests call {@link #assumeAvailable()} first: without torch
 * they skip with the command that installs it.
 */
public final class PythonRef {
  public static final String PYTHON = "/usr/bin/python3";

  /** The script, from any module's folder (tests run in their module's folder). */
  public static final Path SCRIPT =
      Path.of("..", "engine", "src", "test", "python", "llama_lora_ref.py");

  private static Boolean available;

  private PythonRef() {}

  public static synchronized void assumeAvailable() {
    if (available == null) {
      try {
        Process p =
            new ProcessBuilder(PYTHON, "-c", "import torch").redirectErrorStream(true).start();
        available = p.waitFor(120, TimeUnit.SECONDS) && p.exitValue() == 0;
      } catch (IOException | InterruptedException e) {
        available = false;
      }
    }
    Assumptions.assumeTrue(
        available, PYTHON + " -c 'import torch' fails: run scripts/ensure-python-ref.sh");
  }

  /** One sequence for the reference: its tokens and adapter directory (null for the base model). */
  public record Request(int[] tokens, Path adapter) {}

  /** Runs the reference; {@code extra} are flags such as {@code --merged}, {@code --greedy N}. */
  public static JsonNode run(Path model, Path requests, Path out, String... extra)
      throws Exception {
    List<String> cmd =
        new ArrayList<>(
            List.of(
                PYTHON,
                SCRIPT.toString(),
                "--model",
                model.toString(),
                "--requests",
                requests.toString(),
                "--out",
                out.toString()));
    cmd.addAll(List.of(extra));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String log = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!p.waitFor(600, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new AssertionError("reference timed out:\n" + log);
    }
    if (p.exitValue() != 0) {
      throw new AssertionError("reference failed (" + String.join(" ", cmd) + "):\n" + log);
    }
    return new ObjectMapper().readTree(out.toFile());
  }

  /** Writes the requests file and runs the reference on it in {@code dir}. */
  public static JsonNode run(Path model, List<Request> requests, Path dir, String... extra)
      throws Exception {
    ObjectMapper om = new ObjectMapper();
    ArrayNode arr = om.createArrayNode();
    for (Request r : requests) {
      var o = arr.addObject();
      var t = o.putArray("tokens");
      for (int id : r.tokens()) {
        t.add(id);
      }
      if (r.adapter() == null) {
        o.putNull("adapter");
      } else {
        o.put("adapter", r.adapter().toString());
      }
    }
    Path req = java.nio.file.Files.createTempFile(dir, "req", ".json");
    om.writeValue(req.toFile(), arr);
    return run(model, req, java.nio.file.Files.createTempFile(dir, "out", ".json"), extra);
  }

  /** {@code node} is {@code [positions][vocab]}. */
  public static float[][] matrix(JsonNode node) {
    float[][] m = new float[node.size()][];
    for (int i = 0; i < m.length; i++) {
      JsonNode row = node.get(i);
      m[i] = new float[row.size()];
      for (int j = 0; j < m[i].length; j++) {
        m[i][j] = (float) row.get(j).asDouble();
      }
    }
    return m;
  }

  public static int[] ints(JsonNode node) {
    int[] out = new int[node.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = node.get(i).asInt();
    }
    return out;
  }
}
