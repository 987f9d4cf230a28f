package dev.lorastream.cli.chaos;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.devstack.RegistryProcess;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * A small {@code lorastream chaos} run, the faults all there (a consumer SIGKILLed three times, the
 * batcher once, the broker once, each restarted) on fewer requests: nothing lost, nothing
 * duplicated, every fault followed by a recovery line, and the summary printed last.
 */
class ChaosCommandTest {
  private static final Pattern SUMMARY =
      Pattern.compile("chaos: (\\d+) sent, (\\d+) answered, (\\d+) lost, (\\d+) duplicated");

  @TempDir Path tmp;

  @Test
  void servicesKilledMidLoadLoseAndDuplicateNothing() {
    Assumptions.assumeTrue(
        RegistryProcess.available(RegistryProcess.DEFAULT_JAR),
        "needs the Apicurio registry runner (registry/ is built earlier in the reactor): "
            + RegistryProcess.DEFAULT_JAR.toAbsolutePath());
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    int rc =
        new CommandLine(
                new ChaosCommand(new PrintStream(out, true, StandardCharsets.UTF_8), System.err))
            .execute(
                "--work",
                tmp.resolve("chaos").toString(),
                "--requests",
                "150",
                "--load-s",
                "50",
                "--registry-jar",
                RegistryProcess.DEFAULT_JAR.toString());
    List<String> lines = out.toString(StandardCharsets.UTF_8).lines().toList();
    String text = String.join("\n", lines);
    assertEquals(0, rc, text);
    Matcher m = SUMMARY.matcher(lines.getLast());
    assertTrue(m.matches(), "the summary is the last line:\n" + text);
    assertEquals("150", m.group(1), text);
    assertEquals("150", m.group(2), text);
    assertEquals("0", m.group(3), text);
    assertEquals("0", m.group(4), text);
    List<String> recoveries = lines.stream().filter(l -> l.startsWith("recovery: ")).toList();
    assertEquals(5, recoveries.size(), text);
    assertEquals(
        3, recoveries.stream().filter(l -> l.startsWith("recovery: chaos-c")).count(), text);
    assertTrue(recoveries.stream().noneMatch(l -> l.endsWith("first reply none")), text);
  }
}
