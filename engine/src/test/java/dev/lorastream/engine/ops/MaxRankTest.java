package dev.lorastream.engine.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.lorastream.engine.sched.EngineConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * {@link Ops#MAX_RANK} is the one rank limit: the kernels' header and the ABI state the same value.
 */
class MaxRankTest {

  @Test
  void kernelHeaderDefinesTheJavaMaxRank() throws IOException {
    String header =
        Files.readString(Path.of("..", "kernels", "src", "main", "cuda", "lora", "lora_config.h"));
    Matcher m = Pattern.compile("(?m)^#define LORA_MAX_RANK (\\d+)\\s*$").matcher(header);
    assertEquals(true, m.find(), "no '#define LORA_MAX_RANK <n>' in lora_config.h");
    assertEquals(Ops.MAX_RANK, Integer.parseInt(m.group(1)));
  }

  @Test
  void everyRankLimitInTheAbiIsTheJavaMaxRank() throws IOException {
    String abi = Files.readString(Path.of("..", "kernels", "ABI.md"));
    List<Integer> stated = new ArrayList<>();
    Matcher m = Pattern.compile("max_rank ≤ (\\d+)").matcher(abi);
    while (m.find()) {
      stated.add(Integer.parseInt(m.group(1)));
    }
    assertFalse(stated.isEmpty(), "ABI.md states no 'max_rank ≤ <n>'");
    for (int n : stated) {
      assertEquals(Ops.MAX_RANK, n, "ABI.md states max_rank ≤ " + n);
    }
  }

  @Test
  void engineConfigRefusesARankAboveTheLimit() {
    EngineConfig d = EngineConfig.defaults();
    assertEquals(
        Ops.MAX_RANK, d.withLora(1, Ops.MAX_RANK, d.loraTargets(), d.loraKernel()).maxRank());
    var e =
        assertThrows(
            IllegalArgumentException.class,
            () -> d.withLora(1, Ops.MAX_RANK + 1, d.loraTargets(), d.loraKernel()));
    assertEquals(
        "lorastream.lora.max-rank = 257 is above the largest rank the engine serves (256)",
        e.getMessage());
  }
}
