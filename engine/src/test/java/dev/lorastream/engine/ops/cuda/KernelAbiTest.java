package dev.lorastream.engine.ops.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The dispatch table against the contract: every symbol of {@code kernels/ABI.md}'s table, for both
 * dtypes, is looked up in its family's PTX module, and every {@link CudaKernel} has the ABI's
 * argument count.
 */
class KernelAbiTest {

  /** One row of the ABI table: family, symbol pattern (with T), argument count. */
  record AbiRow(String family, String symbol, int args) {}

  static List<AbiRow> abiRows() throws IOException {
    Path abi = Path.of("..", "kernels", "ABI.md");
    List<AbiRow> rows = new ArrayList<>();
    boolean inTable = false;
    for (String line : Files.readAllLines(abi)) {
      if (line.startsWith("| family |")) {
        inTable = true;
        continue;
      }
      if (!inTable || line.startsWith("|---")) {
        continue;
      }
      if (!line.startsWith("|")) {
        break;
      }
      String[] cols = line.split("\\|", -1);
      String family = cols[1].trim();
      String argsText = cols[3].split(" — ")[0];
      Matcher same = Pattern.compile("same arguments as `([a-zA-Z0-9_]+)`").matcher(argsText);
      int args = topLevelCommas(argsText) + 1;
      if (same.find()) {
        String other = same.group(1);
        args = rows.stream().filter(r -> r.symbol().equals(other)).findFirst().orElseThrow().args();
      }
      Matcher m = Pattern.compile("`([a-zA-Z0-9_]+)`").matcher(cols[2]);
      while (m.find()) {
        rows.add(new AbiRow(family, m.group(1), args));
      }
    }
    assertTrue(
        rows.size() >= 15, "parsed " + rows.size() + " ABI rows from " + abi.toAbsolutePath());
    return rows;
  }

  private static int topLevelCommas(String s) {
    int depth = 0;
    int n = 0;
    for (char c : s.toCharArray()) {
      if (c == '[' || c == '(') {
        depth++;
      } else if (c == ']' || c == ')') {
        depth--;
      } else if (c == ',' && depth == 0) {
        n++;
      }
    }
    return n;
  }

  private static String expand(String pattern, String t) {
    return pattern.replaceAll("(^|_)T(_|$)", "$1" + t + "$2");
  }

  @Test
  void everyAbiSymbolOfBothDTypesIsLookedUpInItsFamilysModule() throws IOException {
    Map<String, TreeSet<String>> expected = new TreeMap<>();
    for (AbiRow r : abiRows()) {
      for (String t : new String[] {"f16", "bf16"}) {
        expected
            .computeIfAbsent(CudaKernel.resource(r.family()), k -> new TreeSet<>())
            .add(expand(r.symbol(), t));
      }
    }
    Map<String, TreeSet<String>> actual = new TreeMap<>();
    CudaKernels.lookups().forEach((res, syms) -> actual.put(res, new TreeSet<>(syms)));
    assertEquals(expected, actual);
    assertEquals(
        2 * CudaKernel.values().length, actual.values().stream().mapToInt(TreeSet::size).sum());
  }

  @Test
  void everyKernelHasTheAbisArgumentCount() throws IOException {
    for (AbiRow r : abiRows()) {
      String sym = expand(r.symbol(), "bf16");
      CudaKernel k = null;
      for (CudaKernel c : CudaKernel.values()) {
        if (c.symbol(dev.lorastream.engine.tensor.DType.BF16).equals(sym)) {
          k = c;
        }
      }
      assertTrue(k != null, "no CudaKernel for " + sym);
      assertEquals(r.args(), k.argKinds().length(), sym + " argument count");
      assertEquals(r.family(), k.family(), sym + " family");
    }
  }

  @Test
  void familiesListIsTheSetOfKernelFamilies() {
    TreeSet<String> fams = new TreeSet<>();
    for (CudaKernel k : CudaKernel.values()) {
      fams.add(k.family());
    }
    assertEquals(fams, new TreeSet<>(List.of(CudaKernel.FAMILIES)));
  }
}
