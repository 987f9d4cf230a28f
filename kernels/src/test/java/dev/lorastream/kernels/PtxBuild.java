package dev.lorastream.kernels;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Builds and guards the kernel PTX. Run by Maven in {@code generate-resources} through Java's
 * source launcher ({@code java PtxBuild.java ...}, so it needs no compile step) and called directly
 * by {@code PtxContractTest}.
 *
 * <ul>
 *   <li>{@code check <kernelsDir> <classesDir> [skipNvcc]}: fails when a family's sources (its
 *       folder plus {@code common/}) or the nvcc flags no longer match {@code SOURCES.sha256}, i.e.
 *       the committed PTX is stale. Then, when nvcc is present, compiles each family to cubins for
 *       sm_80 and sm_90 into {@code <classesDir>/kernels/sm_XX/<family>.cubin} (cached by source
 *       hash).
 *   <li>{@code regenerate <kernelsDir>}: rewrites the committed PTX and {@code SOURCES.sha256} with
 *       nvcc.
 * </ul>
 */
public final class PtxBuild {
  /** Kernel families, one folder and one PTX module each. */
  public static final List<String> FAMILIES =
      List.of("gemm", "lora", "attention", "norm", "rope", "act", "embed", "sample", "convert");

  public static final List<String> COMMON_FLAGS = List.of("-std=c++17", "-O3");
  public static final List<String> PTX_FLAGS = List.of("-ptx", "-arch=compute_80");
  public static final List<String> CUBIN_ARCHS = List.of("sm_80", "sm_90");
  public static final String REGENERATE =
      "kernels/regenerate-ptx.sh  (or ./mvnw -pl kernels -Pregenerate-ptx generate-resources)";

  private PtxBuild() {}

  public static Path cudaDir(Path kernelsDir) {
    return kernelsDir.resolve("src/main/cuda");
  }

  public static Path ptxDir(Path kernelsDir) {
    return kernelsDir.resolve("src/main/resources/kernels/ptx");
  }

  /**
   * sha256 over the PTX flags and every source file of the family and of common/ (line endings
   * normalised).
   */
  public static String sourceHash(Path kernelsDir, String family) throws IOException {
    MessageDigest md;
    try {
      md = MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
    md.update(
        ("flags: " + String.join(" ", COMMON_FLAGS) + " " + String.join(" ", PTX_FLAGS) + "\n")
            .getBytes(StandardCharsets.UTF_8));
    Path cuda = cudaDir(kernelsDir);
    List<Path> files = new ArrayList<>();
    for (String dir : List.of("common", family)) {
      try (Stream<Path> s = Files.list(cuda.resolve(dir))) {
        s.filter(p -> p.toString().matches(".*\\.(cu|cuh|h)$")).forEach(files::add);
      }
    }
    files.sort(null);
    for (Path f : files) {
      String text = Files.readString(f, StandardCharsets.UTF_8).replace("\r\n", "\n");
      md.update(
          (cuda.relativize(f).toString().replace('\\', '/') + "\n" + text + "\n")
              .getBytes(StandardCharsets.UTF_8));
    }
    return HexFormat.of().formatHex(md.digest());
  }

  /** family -> recorded hash, from SOURCES.sha256 ({@code <hex> <family>} lines, # comments). */
  public static Map<String, String> recordedHashes(Path kernelsDir) throws IOException {
    Map<String, String> out = new LinkedHashMap<>();
    Path file = ptxDir(kernelsDir).resolve("SOURCES.sha256");
    if (!Files.exists(file)) {
      return out;
    }
    for (String line : Files.readAllLines(file)) {
      String l = line.strip();
      if (!l.isEmpty() && !l.startsWith("#")) {
        String[] parts = l.split("\\s+");
        out.put(parts[1], parts[0]);
      }
    }
    return out;
  }

  /** Human-readable problems with the committed PTX (empty when it is up to date). */
  public static List<String> staleFamilies(Path kernelsDir) throws IOException {
    Map<String, String> recorded = recordedHashes(kernelsDir);
    List<String> problems = new ArrayList<>();
    for (String family : FAMILIES) {
      String now = sourceHash(kernelsDir, family);
      if (!now.equals(recorded.get(family))) {
        problems.add(
            family
                + ": sources hash "
                + now
                + " but SOURCES.sha256 records "
                + recorded.get(family));
      } else if (!Files.exists(ptxDir(kernelsDir).resolve(family + ".ptx"))) {
        problems.add(family + ": " + family + ".ptx is missing");
      }
    }
    return problems;
  }

  /** The nvcc to use: on PATH, else /usr/local/cuda/bin/nvcc; null when neither exists. */
  public static String findNvcc() {
    for (String dir : System.getenv().getOrDefault("PATH", "").split(java.io.File.pathSeparator)) {
      if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, "nvcc"))) {
        return Path.of(dir, "nvcc").toString();
      }
    }
    Path fallback = Path.of("/usr/local/cuda/bin/nvcc");
    return Files.isExecutable(fallback) ? fallback.toString() : null;
  }

  static void nvcc(String nvcc, List<String> flags, Path source, Path output)
      throws IOException, InterruptedException {
    Files.createDirectories(output.getParent());
    List<String> cmd = new ArrayList<>();
    cmd.add(nvcc);
    cmd.addAll(COMMON_FLAGS);
    cmd.addAll(flags);
    cmd.add("-o");
    cmd.add(output.toString());
    cmd.add(source.toString());
    System.out.println("[kernels] " + String.join(" ", cmd));
    Process p = new ProcessBuilder(cmd).inheritIO().start();
    if (p.waitFor() != 0) {
      throw new IOException("nvcc failed (exit " + p.exitValue() + "): " + String.join(" ", cmd));
    }
  }

  static void regenerate(Path kernelsDir, String nvcc) throws Exception {
    if (nvcc == null) {
      throw new IllegalStateException(
          "regenerating the PTX needs nvcc (PATH or /usr/local/cuda/bin)");
    }
    StringBuilder sums = new StringBuilder();
    sums.append(
        "# sha256 over the nvcc flags and the sources of each family (its folder + common/).\n");
    sums.append(
        "# Written by kernels/regenerate-ptx.sh; checked by every build (PtxBuild check).\n");
    sums.append("# flags: ")
        .append(String.join(" ", COMMON_FLAGS))
        .append(' ')
        .append(String.join(" ", PTX_FLAGS))
        .append('\n');
    for (String family : FAMILIES) {
      Path src = cudaDir(kernelsDir).resolve(family).resolve(family + "_all.cu");
      nvcc(nvcc, PTX_FLAGS, src, ptxDir(kernelsDir).resolve(family + ".ptx"));
      sums.append(sourceHash(kernelsDir, family)).append("  ").append(family).append('\n');
    }
    Files.writeString(ptxDir(kernelsDir).resolve("SOURCES.sha256"), sums.toString());
  }

  static void compileCubins(Path kernelsDir, Path classesDir, String nvcc) throws Exception {
    for (String family : FAMILIES) {
      String hash = sourceHash(kernelsDir, family);
      Path src = cudaDir(kernelsDir).resolve(family).resolve(family + "_all.cu");
      for (String arch : CUBIN_ARCHS) {
        Path out = classesDir.resolve("kernels").resolve(arch).resolve(family + ".cubin");
        Path stamp = classesDir.resolve("kernels").resolve(arch).resolve(family + ".cubin.sha256");
        if (Files.exists(out)
            && Files.exists(stamp)
            && Files.readString(stamp).strip().equals(hash)) {
          continue; // up to date
        }
        nvcc(nvcc, List.of("-cubin", "-arch=" + arch), src, out);
        Files.writeString(stamp, hash + "\n");
      }
    }
  }

  public static void main(String[] args) throws Exception {
    String mode = args.length > 0 ? args[0] : "";
    Path kernelsDir = Path.of(args.length > 1 ? args[1] : "kernels").toAbsolutePath();
    switch (mode) {
      case "regenerate" -> regenerate(kernelsDir, findNvcc());
      case "check" -> {
        List<String> stale = staleFamilies(kernelsDir);
        if (!stale.isEmpty()) {
          System.err.println(
              "[kernels] The committed PTX is stale (CUDA sources or flags changed):");
          stale.forEach(s -> System.err.println("[kernels]   " + s));
          System.err.println(
              "[kernels] Regenerate it on a machine with nvcc and commit the result:");
          System.err.println("[kernels]   " + REGENERATE);
          System.exit(1);
        }
        String nvcc = findNvcc();
        boolean skip = args.length > 3 && Boolean.parseBoolean(args[3]);
        if (nvcc == null || skip) {
          System.out.println(
              "[kernels] PTX up to date; "
                  + (skip ? "nvcc skipped" : "no nvcc")
                  + ": packaging the committed PTX only");
        } else {
          compileCubins(kernelsDir, Path.of(args[2]).toAbsolutePath(), nvcc);
          System.out.println(
              "[kernels] PTX up to date; cubins for " + CUBIN_ARCHS + " built with " + nvcc);
        }
      }
      default -> {
        System.err.println(
            "usage: PtxBuild check <kernelsDir> <classesDir> [skipNvcc] | regenerate <kernelsDir>");
        System.exit(2);
      }
    }
  }
}
