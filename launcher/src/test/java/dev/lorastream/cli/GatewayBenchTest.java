package dev.lorastream.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class GatewayBenchTest {
  @TempDir Path tmp;

  @Test
  @Timeout(value = 240, unit = TimeUnit.SECONDS)
  void writesTheReportWithOneRatioPerRepAndEveryStreamEndingInDone() throws Exception {
    Path out = tmp.resolve("report");
    StringWriter stdout = new StringWriter();
    CommandLine cmd = Main.commandLine();
    cmd.setOut(new PrintWriter(stdout, true));
    String home = Path.of("").toAbsolutePath().getParent().toString(); // surefire runs in launcher/
    String old = System.setProperty("lorastream.home", home);
    int code;
    try {
      code =
          cmd.execute(
              "bench",
              "gateway",
              "--requests",
              "5",
              "--reps",
              "2",
              "--max-tokens",
              "4",
              "--streams",
              "40",
              "--work",
              tmp.resolve("work").toString(),
              "--out",
              out.toString());
    } finally {
      if (old == null) {
        System.clearProperty("lorastream.home");
      } else {
        System.setProperty("lorastream.home", old);
      }
    }
    assertEquals(0, code);
    JsonNode r = new ObjectMapper().readTree(out.resolve("results.json").toFile());
    assertEquals(2, r.get("reps").size());
    double ratio = r.get("gateway_p50_over_client").asDouble();
    assertTrue(ratio > 0.2 && ratio < 5, "a latency ratio, not garbage: " + ratio);
    assertEquals(40, r.at("/streams/done").asInt(), r.toString());
    assertEquals(0, r.at("/streams/errors").asInt(), r.toString());
    assertTrue(Files.readString(out.resolve("report.md")).contains("gateway p50 / LoraClient p50"));
    assertTrue(stdout.toString().contains("streams 40 sent, 40 done, 0 errors"), stdout.toString());
  }
}
