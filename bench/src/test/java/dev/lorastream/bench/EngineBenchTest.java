package dev.lorastream.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lorastream.engine.ops.cpu.NativeCpu;
import dev.lorastream.tools.MakeAdapters;
import dev.lorastream.tools.MakeModel;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * Runs {@code bench engine} end to end on a generated tiny model; checks outputs, never timings.
 */
class EngineBenchTest {

  @Test
  void writesReportJsonPlotAndRatioLines(@TempDir Path tmp) throws Exception {
    Path model = tmp.resolve("tiny");
    Path adapters = tmp.resolve("ad");
    Path out = tmp.resolve("out");
    assertEquals(
        0, cli(new StringWriter(), "make-model", "--preset", "tiny", "--out", model.toString()));
    assertEquals(
        0,
        cli(
            new StringWriter(),
            "make-adapters",
            "--model",
            model.toString(),
            "--count",
            "4",
            "--ranks",
            "4,8",
            "--targets",
            "q,v",
            "--out",
            adapters.toString()));

    StringWriter stdout = new StringWriter();
    int code =
        cli(
            stdout,
            "bench",
            "engine",
            "--model",
            model.toString(),
            "--adapters-dir",
            adapters.toString(),
            "--quick",
            "--reps",
            "2",
            "--requests",
            "6",
            "--max-tokens",
            "3",
            "--batch",
            "4",
            "--counts",
            "1,3,1000",
            "--serial-n",
            "100",
            "--bandwidth-mb",
            "4",
            "--warmup-s",
            "0",
            "--step-reps",
            "2",
            "--prefill-len",
            "8",
            "--out",
            out.toString());
    assertEquals(0, code);

    for (String f : List.of("report.md", "results.json", "plot.png")) {
      assertTrue(Files.size(out.resolve(f)) > 0, f);
    }
    List<String> lines = stdout.toString().lines().toList();
    List<String> ratios = lines.stream().filter(l -> l.startsWith("ratio ")).toList();
    // the ratio lines are the last lines, each "ratio NAME VALUE" with a number
    assertEquals(ratios, lines.subList(lines.size() - ratios.size(), lines.size()));
    List<String> names = ratios.stream().map(l -> l.split(" ")[1]).toList();
    for (String l : ratios) {
      String[] parts = l.split(" ");
      assertEquals(3, parts.length, l);
      Double.parseDouble(parts[2]);
    }
    // 1000 adapters are not present: the largest count present (3) stands in, under its own name;
    // then the step-level section's, those comparing kernels only where a native kernel runs
    boolean nativeKernel = NativeCpu.choice().kernel() != NativeCpu.Kernel.VECTOR;
    List<String> expected =
        new java.util.ArrayList<>(
            List.of(
                "adapters3_over_adapter1",
                "adapters3_over_base",
                "hetero_over_serial_uniform3",
                "step_over_bandwidth_floor_hetero3",
                "adapter1_over_base",
                "base_step_over_bandwidth_floor",
                "step_floor_ratio_b1",
                "step_floor_ratio_b32"));
    if (nativeKernel) {
      expected.addAll(List.of("native_decode_speedup_b1", "native_decode_speedup_b32"));
    }
    // the int8 weight option beside them, where the CPU has AVX512_VNNI and the library loads
    boolean int8 = nativeKernel && NativeCpu.canRunInt8();
    if (int8) {
      expected.addAll(
          List.of(
              "int8_decode_speedup_b1", "int8_decode_speedup_b32", "int8_step_floor_ratio_b32"));
    }
    expected.add("lora4_vs_base_decode_b32"); // every adapter present, up to 32
    if (nativeKernel) {
      expected.add("native_prefill_speedup");
    }
    if (int8) {
      expected.add("int8_prefill_speedup");
    }
    assertEquals(expected, names);
    assertTrue(lines.stream().anyMatch(l -> l.contains("hetero:1000 skipped")), stdout.toString());

    JsonNode json = new ObjectMapper().readTree(out.resolve("results.json").toFile());
    // 5 modes (base, adapter1, hetero:1, hetero:3, serial:3) x 2 repetitions, every request
    // answered
    assertEquals(10, json.get("runs").size());
    for (JsonNode run : json.get("runs")) {
      assertEquals(0, run.get("errors").asInt(), run.toString());
      assertEquals(6 * 3, run.get("generatedTokens").asLong(), run.toString());
    }
    for (String name : names) { // every ratio is also a top-level number
      assertTrue(json.get(name).isNumber(), name);
    }
    String md = Files.readString(out.resolve("report.md"));
    assertTrue(md.contains("| decode b4 "), "the step-level rows are in the report");
    for (String mode : Arrays.asList("base", "adapter1", "hetero:1", "hetero:3", "serial:3")) {
      assertTrue(md.contains("### " + mode), mode);
    }
  }

  private static int cli(StringWriter stdout, String... args) {
    return new CommandLine(new Root())
        .setOut(new PrintWriter(stdout, true))
        .setErr(new PrintWriter(new StringWriter(), true))
        .execute(args);
  }

  /** The subcommands this test uses (the launcher's Main lives in another module). */
  @CommandLine.Command(
      name = "lorastream",
      subcommands = {MakeModel.class, MakeAdapters.class, BenchCommand.class})
  static final class Root {}
}
