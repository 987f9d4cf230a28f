package dev.lorastream.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The committed PTX honours kernels/ABI.md: every symbol is an {@code .entry}, the module targets
 * sm_80 with a PTX ISA the CUDA 13 driver JIT accepts, and the checksum matches the CUDA sources.
 * Runs without nvcc or GPU.
 */
class PtxContractTest {
  private static final Path KERNELS =
      Path.of(System.getProperty("user.dir")); // surefire runs in the module dir
  private static final Pattern ENTRY =
      Pattern.compile("^\\.visible \\.entry (\\w+)\\(", Pattern.MULTILINE);

  /** Symbols of ABI.md's table (second column), with T expanded to f16 and bf16. */
  static Set<String> abiSymbols() throws IOException {
    Set<String> out = new TreeSet<>();
    Pattern name = Pattern.compile("`(\\w+)`");
    for (String line : Files.readAllLines(KERNELS.resolve("ABI.md"))) {
      String[] cols = line.split("\\|");
      if (cols.length < 4 || !line.startsWith("|") || cols[2].contains("symbol")) {
        continue;
      }
      Matcher m = name.matcher(cols[2]);
      while (m.find()) {
        for (String dtype : List.of("f16", "bf16")) {
          out.add(m.group(1).replaceAll("_T$", "_" + dtype).replaceAll("^T_", dtype + "_"));
        }
      }
    }
    return out;
  }

  static Set<String> ptxEntries() throws IOException {
    Set<String> out = new TreeSet<>();
    for (String family : PtxBuild.FAMILIES) {
      Matcher m =
          ENTRY.matcher(Files.readString(PtxBuild.ptxDir(KERNELS).resolve(family + ".ptx")));
      while (m.find()) {
        out.add(m.group(1));
      }
    }
    return out;
  }

  @Test
  void everyAbiSymbolIsAnEntryOfTheCommittedPtx() throws IOException {
    Set<String> abi = abiSymbols();
    assertTrue(abi.size() >= 30, "parsed too few ABI symbols: " + abi);
    Set<String> missing = new TreeSet<>(abi);
    missing.removeAll(ptxEntries());
    assertEquals(Set.of(), missing, "ABI.md symbols without a PTX .entry");
  }

  @Test
  void ptxTargetsSm80WithAnIsaTheDriverJitAccepts() throws IOException {
    List<String> problems = new ArrayList<>();
    for (String family : PtxBuild.FAMILIES) {
      String ptx = Files.readString(PtxBuild.ptxDir(KERNELS).resolve(family + ".ptx"));
      Matcher v = Pattern.compile("^\\.version (\\d+)\\.(\\d+)$", Pattern.MULTILINE).matcher(ptx);
      if (!v.find()) {
        problems.add(family + ": no .version line");
      } else {
        int isa = Integer.parseInt(v.group(1)) * 10 + Integer.parseInt(v.group(2));
        // 8.0 (CUDA 12.0) .. 9.0 (CUDA 13.0, driver 580 on the H200 machines)
        if (isa < 80 || isa > 90) {
          problems.add(
              family + ": .version " + v.group(1) + "." + v.group(2) + " outside 8.0..9.0");
        }
      }
      if (!Pattern.compile("^\\.target sm_80$", Pattern.MULTILINE).matcher(ptx).find()) {
        problems.add(family + ": .target is not sm_80");
      }
      if (!Pattern.compile("^\\.address_size 64$", Pattern.MULTILINE).matcher(ptx).find()) {
        problems.add(family + ": .address_size is not 64");
      }
    }
    assertEquals(List.of(), problems);
  }

  @Test
  void committedPtxChecksumMatchesTheSources() throws IOException {
    assertEquals(
        List.of(), PtxBuild.staleFamilies(KERNELS), "regenerate with " + PtxBuild.REGENERATE);
  }
}
