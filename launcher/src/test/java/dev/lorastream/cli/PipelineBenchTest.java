package dev.lorastream.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code bench pipeline} end to end on a tiny run (generated tiny model, 2 generated adapters, 4
 * requests, one repetition, no warm-up): the report's named figures are there and numeric, and both
 * paths generated the same tokens.
 */
class PipelineBenchTest {
  @TempDir Path tmp;

  @Test
  void outputLengthsThatLeaveNothingToDrawAreRefusedNamingTheValues() {
    java.io.StringWriter err = new java.io.StringWriter();
    int code =
        Main.commandLine()
            .setExecutionExceptionHandler(
                (e, cmd, parsed) -> {
                  err.write(e.getMessage());
                  return 2;
                })
            .execute(
                "bench",
                "pipeline",
                "--work",
                tmp.resolve("work").toString(),
                "--min-tokens",
                "8",
                "--max-tokens",
                "8",
                "--out",
                tmp.resolve("report").toString());
    assertEquals(2, code);
    assertEquals(
        "--min-tokens 8 and --max-tokens 8: need 1 <= min < max (outputs are drawn uniform in [min,"
            + " max))",
        err.toString());
    assertTrue(!Files.exists(tmp.resolve("report")), "nothing run");
  }

  @Test
  void aTinyRunWritesTheNamedFiguresAndBothPathsGenerateTheSameTokens() throws Exception {
    Path out = tmp.resolve("report");
    int code =
        Main.commandLine()
            .execute(
                "bench",
                "pipeline",
                "--work",
                tmp.resolve("work").toString(),
                "--adapters",
                "2",
                "--requests",
                "4",
                "--reps",
                "1",
                "--max-tokens",
                "16",
                "--rate",
                "50",
                "--no-warmup",
                "--max-inflight-batches",
                "4",
                "--tracing",
                "--out",
                out.toString());
    assertEquals(0, code);
    JsonNode j = new ObjectMapper().readTree(out.resolve("results.json").toFile());
    assertTrue(j.get("throughput_ratio").isDouble(), j.toString());
    assertTrue(j.get("throughput_ratio").asDouble() > 0);
    assertTrue(j.get("delivery_lag_ms").get("p50").isNumber());
    assertTrue(j.get("delivery_lag_ms").get("p99").isNumber());
    assertTrue(
        j.get("delivery_lag_ms").get("p99").asDouble()
            >= j.get("delivery_lag_ms").get("p50").asDouble());
    assertTrue(j.get("short_quartile_latency_ratio").asDouble() > 0);
    assertTrue(j.get("cancel_steps").isIntegralNumber());
    assertTrue(j.get("cancel_steps").asLong() >= 1, "the step that drops it counts");
    JsonNode kafka = j.get("paths").get("kafka").get("runs").get(0);
    JsonNode engine = j.get("paths").get("engine").get("runs").get(0);
    assertEquals(4, kafka.get("requests").asInt());
    assertEquals(0, kafka.get("errors").asInt());
    assertEquals(0, engine.get("errors").asInt());
    assertEquals(engine.get("generated").asLong(), kafka.get("generated").asLong());
    assertEquals("CANCELLED", j.get("cancel").get("errorCode").asText());
    // --tracing: the Kafka path again with every span made: 4 requests, each a client span and a
    // batcher span at least, 7 at most
    assertTrue(j.get("tracing_throughput_ratio").asDouble() > 0, j.toString());
    long spans = j.get("tracing_spans_exported").asLong();
    assertTrue(spans >= 8 && spans <= 28, "spans " + spans);
    JsonNode traced = j.get("paths").get("kafka+tracing").get("runs").get(0);
    assertEquals(0, traced.get("errors").asInt());
    assertEquals(kafka.get("generated").asLong(), traced.get("generated").asLong());
    assertTrue(Files.size(out.resolve("plot.png")) > 0);
    String md = Files.readString(out.resolve("report.md"));
    assertTrue(md.contains("| cancel_steps |"), md);
    assertTrue(
        md.contains(
            "Consumer max-inflight-batches 4, batcher max wait 20 ms, commit interval 20 ms."),
        md);
  }
}
