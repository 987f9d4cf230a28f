package dev.lorastream.bench.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lorastream.bench.BenchCommand;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * Runs a tiny {@code bench adapters} end to end (seconds); checks the outputs and the figures that
 * are exact, never timings.
 */
class AdapterStoreBenchTest {
  private static final List<String> NUMBERS =
      List.of(
          "throughput_ratio_vs_resident",
          "step_p99_ratio_during_loads",
          "cold_load_ratio_vs_disk",
          "residency_ratio_vs_padded",
          "resident_true_rank",
          "resident_padded",
          "vtc_share_error_max",
          "vtc_cold_latency_ratio");

  @Test
  void writesEveryFigureAsANumberWithExactResidencyAndServedTokens(@TempDir Path tmp)
      throws Exception {
    Path out = tmp.resolve("out");
    StringWriter stdout = new StringWriter();
    int code =
        new CommandLine(new BenchCommand())
            .setOut(new PrintWriter(stdout, true))
            .setErr(new PrintWriter(new StringWriter(), true))
            .execute(
                "adapters",
                "--work",
                tmp.resolve("work").toString(),
                "--out",
                out.toString(),
                "--adapters",
                "64",
                "--host-adapters",
                "8",
                "--pool",
                "16",
                "--requests",
                "12",
                "--max-tokens",
                "3",
                "--reps",
                "1",
                "--storm-steps",
                "10",
                "--cold-tenants",
                "3",
                "--vtc-ticks",
                "80",
                "--targets",
                "q,v",
                "--backend",
                "cpu");
    assertEquals(0, code, stdout.toString());
    assertTrue(Files.size(out.resolve("report.md")) > 0);
    JsonNode json = new ObjectMapper().readTree(out.resolve("results.json").toFile());
    for (String key : NUMBERS) {
      assertTrue(json.path(key).isNumber(), key + " in " + json);
      assertTrue(Double.isFinite(json.get(key).asDouble()), key + " = " + json.get(key));
    }
    // the pool holds the pages of 4 adapters of rank 64 (4 padded slots); at true rank, adapters
    // of the seed's drawn ranks, each given a window of the pages of its rank (a row of padding per
    // projection counted) and keeping the pages its rows reach, until the next finds no window: at
    // least as many as the windows alone would fit
    int pool = json.get("pool_pages").asInt();
    assertEquals(4 * json.get("pages_rank_64").asInt(), pool);
    int[] ranks = PoolFigures.drawRanks(0, 33);
    int pages = 0;
    int fit = 0;
    while (pages + json.get("pages_rank_" + ranks[fit]).asInt() <= pool) {
      pages += json.get("pages_rank_" + ranks[fit++]).asInt();
    }
    int resident = json.get("resident_true_rank").asInt();
    assertEquals(4, json.get("resident_padded").asInt());
    assertTrue(resident >= fit, resident + " resident, windows alone fit " + fit);
    assertEquals(resident / 4.0, json.get("residency_ratio_vs_padded").asDouble(), 1e-12);
    assertTrue(json.get("used_pages").asInt() <= pool);
    assertTrue(fit >= 7, "small ranks take fewer pages: " + fit);
    // every generated token of the VTC run is counted for exactly one tenant
    assertEquals(
        json.get("vtc_results_generated_total").asLong(),
        json.get("vtc_served_generated_total").asLong());
    assertTrue(json.get("vtc_results_generated_total").asLong() > 0);
    assertEquals(3, json.get("vtc_cold_tenants").asInt());
    assertTrue(stdout.toString().contains("figure vtc_share_error_max "), stdout.toString());
  }

  @Test
  void waterFillingGivesSmallDemandsInFullAndSplitsTheRestEqually() {
    double[] fair = VtcFigures.waterFill(new double[] {Double.POSITIVE_INFINITY, 10, 40, 100}, 150);
    // 10 in full, then 140 over three: 40 in full, then 100 over two: 50 each
    assertEquals(List.of(50.0, 10.0, 40.0, 50.0), List.of(fair[0], fair[1], fair[2], fair[3]));
  }
}
