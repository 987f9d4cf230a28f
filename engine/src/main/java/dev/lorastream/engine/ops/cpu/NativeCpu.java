package dev.lorastream.engine.ops.cpu;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The native CPU kernels ({@code engine/src/main/native/lorastream_cpu.c}, built by the engine's
 * Maven build into the jar as {@code native/linux-x86_64/liblorastream_cpu.so}) and the choice
 * between them and the Java Vector API kernels, made once per JVM.
 *
 * <p>Why native: the Vector API cannot emit AVX512_BF16's {@code vdpbf16ps} (nor AMX), which
 * multiplies BF16 pairs at twice the FMA rate. Measured on the 2-core AMD EPYC (Zen 4) of
 * 2026-12-06 with 2 threads, a [4096, 4096] BF16 weight: Java 141 GFLOP/s at 32 tokens and 159 at
 * 128; the native {@code fma} kernel 165 and 169; the native {@code bf16dot} kernel 260 and 286
 * (docs/benchmarks.md, native CPU kernels).
 *
 * <p>{@link #PROPERTY} ({@code lorastream.cpu.kernels}) chooses:
 *
 * <ul>
 *   <li>{@code auto} (default): native when the library loads and the CPU has AVX-512 (F, BW, VL,
 *       DQ, saved by the OS): {@code amx} for BF16 weights when it has AMX-BF16 and the kernel may
 *       run ({@link #canRun}), else {@code bf16dot} when it has AVX512_BF16, {@code fma} otherwise;
 *       else the Java kernels;
 *   <li>{@code amx}: the AMX kernel (for calls of {@link #AMX_MIN_TOKENS} tokens or more; {@code
 *       bf16dot} below), or {@code bf16dot} with the reason when it may not run;
 *   <li>{@code bf16dot}, {@code fma}: that native kernel (the next one down when the CPU lacks it,
 *       saying so); {@code fma} is how a CPU without AVX512_BF16 is emulated;
 *   <li>{@code vector}: the Java kernels (a CPU without AVX-512, or no native library).
 * </ul>
 *
 * A library that is missing or fails to load, or a CPU without what was asked, never stops the
 * engine: the next path down runs and {@link #choice} says why.
 *
 * <p>Precision: {@code fma} multiplies the F32 activations by the weights widened to F32 (the
 * reference's terms, summed in another order). {@code bf16dot} rounds the activations to BF16
 * (round to nearest even) once per call, as llama.cpp does for BF16 weights: each product carries a
 * relative error of at most 2^-9, so a dot product is within 2^-9 · Σ|wᵢxᵢ| of the exact one. Both
 * compute each output from the same operations whatever the number of tokens in the call, so a
 * sequence gets the same numbers alone as in any batch.
 */
public final class NativeCpu {
  /** The system property choosing the CPU kernels: auto, amx, bf16dot, fma or vector. */
  public static final String PROPERTY = "lorastream.cpu.kernels";

  /** A system property naming a library file to load instead of the one in the jar (tests, dev). */
  public static final String LIBRARY_PROPERTY = "lorastream.cpu.native.library";

  private static final String RESOURCE = "/native/linux-x86_64/liblorastream_cpu.so";

  /** The CPU features {@code ls_cpu_features} reports (bits). */
  static final int AVX2 = 1;

  static final int AVX512 = 2;
  static final int AVX512_BF16 = 4;
  static final int AMX_BF16 = 8;
  static final int AVX512_VNNI = 16;

  /** Which matmul kernel a {@link CpuOps} runs. */
  public enum Kernel {
    /** The Java Vector API kernels ({@link CpuMatmul}). */
    VECTOR,
    /** Native AVX-512 FMA on F32 activations (BF16 weights widened). */
    FMA,
    /** Native AVX512_BF16 dot products on BF16-rounded activations, for BF16 weights. */
    BF16DOT,
    /**
     * Native AMX-BF16 tiles ({@code tdpbf16ps}) on the same BF16-rounded activations, for BF16
     * weights and calls of at least {@link #AMX_MIN_TOKENS} tokens; {@code bf16dot} below that.
     */
    AMX;

    String configValue() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  /**
   * The decision: the kernel for BF16 weights (F32 weights run {@code fma} whenever the kernel is
   * native), and one line saying what was chosen and why.
   */
  public record Choice(Kernel kernel, String description) {}

  /**
   * The fewest tokens a matmul call runs on AMX tiles: a tile multiplies 16 tokens whatever the
   * call has, so a decode step of a few sequences, memory-bound either way, stays on {@code
   * bf16dot}. A first guess, to be measured on a CPU with AMX.
   */
  public static final int AMX_MIN_TOKENS = 16;

  private static final NativeCpu LOADED;
  private static final String LOAD_ERROR;

  static {
    NativeCpu lib = null;
    String error = null;
    try {
      lib = load();
    } catch (Throwable e) { // a missing or broken library is never fatal: the Java kernels run
      error = e.getMessage() == null ? e.toString() : e.getMessage();
    }
    LOADED = lib;
    LOAD_ERROR = error;
  }

  /** Null when the AMX kernel may run here; else why not, in words. */
  private static final String AMX_UNAVAILABLE = amxUnavailable();

  private static final Choice CHOICE = choose(System.getProperty(PROPERTY, "auto"));

  final int features;
  final String path;
  final MethodHandle matmulFma;
  final MethodHandle packBf16;
  final MethodHandle bf16Stride;
  final MethodHandle attend;
  final MethodHandle matmulBf16dot;
  final MethodHandle probeRead;
  final MethodHandle probeFma;
  final MethodHandle probeBf16dot;
  final MethodHandle quantizeI8;
  final MethodHandle u8Stride;
  final MethodHandle packU8;
  final MethodHandle matmulI8;
  final MethodHandle probeI8dot;

  /** The AMX kernel's entry points; null when the library was built without it (gcc < 11). */
  final MethodHandle amxInit;

  final MethodHandle amxScratchBytes;
  final MethodHandle matmulAmx;

  private NativeCpu(String path, SymbolLookup lib) throws Throwable {
    Linker linker = Linker.nativeLinker();
    // critical: no thread-state transition per call, and heap arrays may be passed (tests' weights,
    // bias arrays); the calls are short and never call back into Java
    Linker.Option critical = Linker.Option.critical(true);
    this.path = path;
    MethodHandle features =
        linker.downcallHandle(find(lib, "ls_cpu_features"), FunctionDescriptor.of(JAVA_INT));
    this.features = (int) features.invokeExact();
    this.matmulFma =
        linker.downcallHandle(
            find(lib, "ls_matmul_fma"),
            FunctionDescriptor.ofVoid(
                ADDRESS, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, ADDRESS,
                JAVA_INT, JAVA_INT, JAVA_INT),
            critical);
    this.packBf16 =
        linker.downcallHandle(
            find(lib, "ls_pack_bf16"),
            FunctionDescriptor.ofVoid(ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS),
            critical);
    this.bf16Stride =
        linker.downcallHandle(
            find(lib, "ls_bf16_stride"), FunctionDescriptor.of(JAVA_INT, JAVA_INT), critical);
    this.attend =
        linker.downcallHandle(
            find(lib, "ls_attend"),
            FunctionDescriptor.ofVoid(
                ADDRESS,
                ADDRESS,
                ADDRESS,
                ADDRESS,
                JAVA_INT,
                ADDRESS,
                ADDRESS,
                JAVA_INT,
                JAVA_INT,
                JAVA_INT,
                JAVA_INT,
                JAVA_FLOAT,
                ADDRESS,
                ADDRESS,
                JAVA_INT,
                JAVA_INT),
            critical);
    this.matmulBf16dot =
        linker.downcallHandle(
            find(lib, "ls_matmul_bf16dot"),
            FunctionDescriptor.ofVoid(
                ADDRESS, ADDRESS, JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT,
                JAVA_INT),
            critical);
    this.probeRead =
        linker.downcallHandle(
            find(lib, "ls_probe_read"), FunctionDescriptor.of(JAVA_FLOAT, ADDRESS, JAVA_LONG));
    this.probeFma =
        linker.downcallHandle(
            find(lib, "ls_probe_fma"), FunctionDescriptor.of(JAVA_FLOAT, JAVA_LONG));
    this.probeBf16dot =
        linker.downcallHandle(
            find(lib, "ls_probe_bf16dot"), FunctionDescriptor.of(JAVA_FLOAT, JAVA_LONG));
    this.quantizeI8 =
        linker.downcallHandle(
            find(lib, "ls_quantize_i8"),
            FunctionDescriptor.ofVoid(
                ADDRESS, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, JAVA_INT),
            critical);
    this.u8Stride =
        linker.downcallHandle(
            find(lib, "ls_u8_stride"), FunctionDescriptor.of(JAVA_INT, JAVA_INT), critical);
    this.packU8 =
        linker.downcallHandle(
            find(lib, "ls_pack_u8"),
            FunctionDescriptor.ofVoid(ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS),
            critical);
    this.matmulI8 =
        linker.downcallHandle(
            find(lib, "ls_matmul_i8"),
            FunctionDescriptor.ofVoid(
                ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, JAVA_INT, ADDRESS,
                JAVA_INT, JAVA_INT, JAVA_INT),
            critical);
    this.probeI8dot =
        linker.downcallHandle(
            find(lib, "ls_probe_i8dot"), FunctionDescriptor.of(JAVA_INT, JAVA_LONG));
    this.amxInit =
        lib.find("ls_amx_init")
            .map(a -> linker.downcallHandle(a, FunctionDescriptor.of(JAVA_INT)))
            .orElse(null);
    this.amxScratchBytes =
        lib.find("ls_amx_scratch_bytes")
            .map(
                a ->
                    linker.downcallHandle(
                        a, FunctionDescriptor.of(JAVA_LONG, JAVA_INT, JAVA_INT), critical))
            .orElse(null);
    this.matmulAmx =
        lib.find("ls_matmul_amx")
            .map(
                a ->
                    linker.downcallHandle(
                        a,
                        FunctionDescriptor.ofVoid(
                            ADDRESS, ADDRESS, JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_INT,
                            JAVA_INT, JAVA_INT, ADDRESS),
                        critical))
            .orElse(null);
  }

  /**
   * Bytes of scratch {@code ls_matmul_amx} needs per calling thread for {@code in} and {@code T}.
   */
  long amxScratchBytes(int in, int tokens) {
    try {
      return (long) amxScratchBytes.invokeExact(in, tokens);
    } catch (Throwable e) {
      throw new IllegalStateException("ls_amx_scratch_bytes failed", e);
    }
  }

  /**
   * Whether the AMX kernel may run: the CPU has AMX-BF16 and AVX512_BF16, the library has the
   * kernel, Linux granted this process tile state ({@code arch_prctl(ARCH_REQ_XCOMP_PERM,
   * XFEATURE_XTILEDATA)}, once per process), and a small matmul on it agrees with {@code bf16dot}
   * (the kernel has been checked on an emulation of the tile instructions, {@code
   * amx-emu-check.sh}, so the first run on real tiles checks itself before it serves). Null when it
   * may, else why not.
   */
  private static String amxUnavailable() {
    NativeCpu l = LOADED;
    if (l == null) {
      return "no native kernels: " + LOAD_ERROR;
    }
    if (!l.has(AMX_BF16)) {
      return "the CPU has no AMX-BF16";
    }
    if (!l.has(AVX512 | AVX512_BF16)) {
      return "AMX without AVX512_BF16 (the kernel packs its activations with it)";
    }
    if (l.matmulAmx == null || l.amxInit == null || l.amxScratchBytes == null) {
      return "the native library was built without the AMX kernel (gcc >= 11 needed)";
    }
    int rc;
    try {
      rc = (int) l.amxInit.invokeExact();
    } catch (Throwable e) {
      return "ls_amx_init failed: " + e;
    }
    if (rc != 0) {
      return "Linux refused AMX tile state (arch_prctl errno " + rc + "; Linux >= 5.16 needed)";
    }
    try {
      String mismatch = AmxSelfCheck.run(l);
      return mismatch == null ? null : "the AMX self-check failed (" + mismatch + ")";
    } catch (Throwable e) {
      return "the AMX self-check failed: " + e;
    }
  }

  /** The row stride (bytes) of {@code ls_pack_u8}'s output for rows of {@code in}. */
  int u8Stride(int in) {
    try {
      return (int) u8Stride.invokeExact(in);
    } catch (Throwable e) {
      throw new IllegalStateException("ls_u8_stride failed", e);
    }
  }

  /**
   * Whether this machine runs the int8 weight kernel ({@code lorastream.cpu.weights=int8}): the
   * library loaded and the CPU has AVX-512 and AVX512_VNNI.
   */
  public static boolean canRunInt8() {
    return LOADED != null && LOADED.has(AVX512 | AVX512_VNNI);
  }

  /** Why {@link #canRunInt8} is false, in words (null when it is true). */
  public static String int8Unavailable() {
    if (canRunInt8()) {
      return null;
    }
    return LOADED == null
        ? "no native kernels: " + LOAD_ERROR
        : "the int8 kernel needs AVX-512 and AVX512_VNNI; CPU: " + LOADED.featureNames();
  }

  private static MemorySegment find(SymbolLookup lib, String name) {
    return lib.find(name)
        .orElseThrow(() -> new IllegalStateException("the native library has no symbol " + name));
  }

  /** The row stride (BF16 elements) of {@code ls_pack_bf16}'s output for rows of {@code in}. */
  int bf16Stride(int in) {
    try {
      return (int) bf16Stride.invokeExact(in);
    } catch (Throwable e) {
      throw new IllegalStateException("ls_bf16_stride failed", e);
    }
  }

  /** The loaded library, or null when it did not load ({@link #loadError} says why). */
  static NativeCpu library() {
    return LOADED;
  }

  /** Why the library did not load, or null when it did. */
  static String loadError() {
    return LOAD_ERROR;
  }

  /** The kernel this JVM's CPU backends run, chosen at class initialisation. */
  public static Choice choice() {
    return CHOICE;
  }

  /**
   * Whether this machine runs {@code kernel}: the Java one always; {@code fma} when the library
   * loaded and the CPU has AVX-512; {@code bf16dot} when it also has AVX512_BF16. The one statement
   * of what each kernel needs: {@link #choose} falls down this list.
   */
  public static boolean canRun(Kernel kernel) {
    return switch (kernel) {
      case VECTOR -> true;
      case FMA -> LOADED != null && LOADED.has(AVX512);
      case BF16DOT -> LOADED != null && LOADED.has(AVX512 | AVX512_BF16);
      case AMX -> AMX_UNAVAILABLE == null;
    };
  }

  /** Whether the CPU has all of {@code bits} (false without the library: nothing is known). */
  boolean has(int bits) {
    return (features & bits) == bits;
  }

  /** The features as words, e.g. {@code AVX2 AVX-512 AVX512_BF16, no AMX}. */
  String featureNames() {
    List<String> f = new ArrayList<>();
    if (has(AVX2)) {
      f.add("AVX2");
    }
    if (has(AVX512)) {
      f.add("AVX-512");
    }
    if (has(AVX512_BF16)) {
      f.add("AVX512_BF16");
    }
    if (has(AVX512_VNNI)) {
      f.add("AVX512_VNNI");
    }
    f.add(
        !has(AMX_BF16)
            ? "no AMX"
            : AMX_UNAVAILABLE == null ? "AMX-BF16" : "AMX-BF16 unused: " + AMX_UNAVAILABLE);
    return String.join(" ", f);
  }

  /** The choice for a {@link #PROPERTY} value (package-private for tests). */
  static Choice choose(String requested) {
    String r = requested.trim().toLowerCase(Locale.ROOT);
    Kernel wanted =
        switch (r) {
          case "auto" -> canRun(Kernel.AMX) ? Kernel.AMX : Kernel.BF16DOT;
          case "amx" -> Kernel.AMX;
          case "bf16dot" -> Kernel.BF16DOT;
          case "fma" -> Kernel.FMA;
          case "vector" -> Kernel.VECTOR;
          default ->
              throw new IllegalArgumentException(
                  PROPERTY
                      + "="
                      + requested
                      + " is invalid: use auto, amx, bf16dot, fma or vector");
        };
    if (wanted == Kernel.VECTOR) {
      return new Choice(Kernel.VECTOR, "java vector (" + PROPERTY + "=vector)");
    }
    String asked = r.equals("auto") ? "auto" : PROPERTY + "=" + r;
    if (LOADED == null) {
      return new Choice(
          Kernel.VECTOR, "java vector (" + asked + ": no native kernels: " + LOAD_ERROR + ")");
    }
    String cpu = "CPU: " + LOADED.featureNames();
    if (!canRun(Kernel.FMA)) {
      return new Choice(
          Kernel.VECTOR,
          "java vector (" + asked + ": the native kernels need AVX-512; " + cpu + ")");
    }
    if (wanted == Kernel.AMX && !canRun(Kernel.AMX)) {
      wanted = Kernel.BF16DOT; // explicit amx on a machine without it: say why, run the next one
      asked = asked + ": " + AMX_UNAVAILABLE;
    }
    if (!canRun(wanted)) {
      return new Choice(
          Kernel.FMA, "native fma (" + asked + ": no AVX512_BF16 for bf16dot; " + cpu + ")");
    }
    return new Choice(
        wanted,
        "native "
            + wanted.configValue()
            + switch (wanted) {
              case AMX ->
                  " for BF16 weights at " + AMX_MIN_TOKENS + "+ tokens, bf16dot below, fma for F32";
              case BF16DOT -> " for BF16 weights, fma for F32";
              default -> "";
            }
            + " ("
            + asked
            + "; "
            + cpu
            + ")");
  }

  // ---- probes: the machine's limits, measured with the kernels' own instructions ----------------

  /** What the probes measured: read bandwidth and the two multiply rates, on {@code threads}. */
  public record Peaks(
      int threads, double readGBs, double fmaGflops, double bf16Gflops, double i8Gops) {
    /**
     * The best multiply rate the CPU has for F32 or BF16 operands (bf16 dot products when it has
     * them).
     */
    public double bestGflops() {
      return Math.max(fmaGflops, bf16Gflops);
    }
  }

  /**
   * Measures, with {@code threads} threads each on its own share: the read bandwidth over {@code
   * bytes} of native memory (AVX-512 loads summed into 4 accumulators; best of {@code tries}), the
   * AVX-512 FMA rate, the AVX512_BF16 dot-product rate and the AVX512_VNNI int8 rate (24
   * independent register-resident chains each; 0 when the CPU lacks the instructions). Empty
   * without the library or AVX-512.
   */
  public static java.util.Optional<Peaks> measurePeaks(long bytes, int threads, int tries) {
    NativeCpu l = LOADED;
    if (l == null || !l.has(AVX512)) {
      return java.util.Optional.empty();
    }
    long perThread = Math.max(1 << 20, bytes / threads) / 256 * 256; // whole 64-float blocks
    double best = Double.MAX_VALUE;
    try (Arena arena = Arena.ofShared()) {
      MemorySegment buf = arena.allocate(perThread * threads, 64);
      buf.fill((byte) 0x3f);
      for (int t = 0; t < tries; t++) {
        best =
            Math.min(
                best,
                parallelSeconds(
                    threads,
                    i ->
                        (float)
                            l.probeRead.invokeExact(
                                buf.asSlice(i * perThread, perThread), perThread / 4)));
      }
    }
    double read = perThread * (double) threads / best / 1e9;
    long iters = 2_000_000;
    // each probe: 24 independent chains of `lanes`-wide multiply-adds (2 operations per lane)
    double fma = rate(threads, iters, 16, i -> (float) l.probeFma.invokeExact(iters));
    double bf16 =
        l.has(AVX512_BF16)
            ? rate(threads, iters, 32, i -> (float) l.probeBf16dot.invokeExact(iters))
            : 0;
    double i8 =
        l.has(AVX512_VNNI)
            ? rate(threads, iters, 64, i -> (int) l.probeI8dot.invokeExact(iters))
            : 0;
    return java.util.Optional.of(new Peaks(threads, read, fma, bf16, i8));
  }

  /** G operations per second of a register-resident probe of {@code iters} rounds. */
  private static double rate(int threads, long iters, int lanes, Probe probe) {
    return 2.0 * lanes * 24 * iters * threads / parallelSeconds(threads, probe) / 1e9;
  }

  private interface Probe {
    Object run(long index) throws Throwable;
  }

  /** Runs {@code probe} on {@code threads} threads at once; the wall seconds of the slowest. */
  private static double parallelSeconds(int threads, Probe probe) {
    java.util.concurrent.CountDownLatch start = new java.util.concurrent.CountDownLatch(1);
    Thread[] ts = new Thread[threads];
    Throwable[] failed = new Throwable[1];
    for (int i = 0; i < threads; i++) {
      long index = i;
      ts[i] =
          Thread.ofPlatform()
              .start(
                  () -> {
                    try {
                      start.await();
                      probe.run(index);
                    } catch (Throwable e) {
                      failed[0] = e;
                    }
                  });
    }
    long t0 = System.nanoTime();
    start.countDown();
    for (Thread t : ts) {
      try {
        t.join();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException("interrupted while probing", e);
      }
    }
    if (failed[0] != null) {
      throw new IllegalStateException("a native probe failed", failed[0]);
    }
    return (System.nanoTime() - t0) / 1e9;
  }

  private static NativeCpu load() throws Throwable {
    String explicit = System.getProperty(LIBRARY_PROPERTY);
    Path file;
    if (explicit != null && !explicit.isBlank()) {
      file = Path.of(explicit);
    } else {
      String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
      String arch = System.getProperty("os.arch", "");
      if (!os.contains("linux") || !(arch.equals("amd64") || arch.equals("x86_64"))) {
        throw new IllegalStateException("built for x86-64 Linux only, not " + os + "/" + arch);
      }
      URL url = NativeCpu.class.getResource(RESOURCE);
      if (url == null) {
        throw new IllegalStateException(
            "the engine was built without them (no gcc at build time: see"
                + " engine/src/main/native/build.sh)");
      }
      file = "file".equals(url.getProtocol()) ? fromUrl(url) : extract(url);
    }
    if (!Files.isRegularFile(file)) {
      throw new IllegalStateException(file + " does not exist");
    }
    SymbolLookup lib = SymbolLookup.libraryLookup(file, Arena.global());
    return new NativeCpu(file.toString(), lib);
  }

  private static Path fromUrl(URL url) {
    try {
      return Path.of(url.toURI());
    } catch (URISyntaxException e) {
      throw new IllegalStateException("cannot read " + url, e);
    }
  }

  /** Copies the library out of the jar into a temporary file (deleted at exit). */
  private static Path extract(URL url) throws IOException {
    Path tmp = Files.createTempFile("liblorastream_cpu", ".so");
    tmp.toFile().deleteOnExit();
    try (InputStream in = url.openStream()) {
      Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
    }
    return tmp;
  }
}
