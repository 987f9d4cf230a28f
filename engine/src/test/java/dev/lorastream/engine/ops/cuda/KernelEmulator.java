package dev.lorastream.engine.ops.cuda;

import dev.lorastream.engine.ops.cuda.LaunchGeometry.Launch;
import dev.lorastream.engine.tensor.DType;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * A {@link DeviceApi} for tests on machines without a GPU: device memory is host memory and every
 * launch runs the real kernel sources of {@code kernels/src/main/cuda}, compiled for the CPU by
 * {@code kernels/src/test/emu/build-emu.sh} into {@code liblorastream_emu.so} (one fiber per CUDA
 * thread, real {@code __syncthreads}/warp-barrier semantics, deadlocks reported). It is
 * synchronous: streams and events are tokens, every call completes before it returns.
 *
 * <p>What it checks: the backend's argument order and kinds against the kernels' signatures, launch
 * geometry (block sizes against {@code __launch_bounds__}), pool offsets, dtype conversions, the
 * kernels' indexing, arithmetic and barriers. What it cannot: PTX and the driver's JIT, the GPU
 * memory model, stream overlap, timing. The pool is filled with 0xFF bytes (NaN in f16, bf16 and
 * f32) so a read of never-written memory shows.
 */
final class KernelEmulator implements DeviceApi {
  private static final Linker LINKER = Linker.nativeLinker();
  private static Library library;
  private static String unavailable;

  private record Library(
      MethodHandle launch,
      MethodHandle lastError,
      MethodHandle setOrder,
      MethodHandle symbolCount,
      MethodHandle symbolName,
      MethodHandle symbolParams) {}

  private record Token(String what) implements Stream, Event {}

  private final Arena arena = Arena.ofShared();
  private MemorySegment pool;
  private long launches;
  private long failAt = -1;
  private int failResult;

  /**
   * Fault injection: launch number {@code n} (0-based, counted from now) and every later one throw
   * the {@link CudaException} the driver's {@code cuLaunchKernel} would for {@code cuResult} (e.g.
   * 700, CUDA_ERROR_ILLEGAL_ADDRESS, which leaves a real context unusable).
   */
  synchronized void failLaunchesFrom(long n, int cuResult) {
    failAt = launches + n;
    failResult = cuResult;
  }

  /**
   * Builds (or reuses) the emulator library once per JVM.
   *
   * @return null when it is usable, else why not (for a test's skip message)
   */
  static synchronized String unavailableReason() {
    if (library == null && unavailable == null) {
      try {
        library = load(build());
      } catch (IOException | RuntimeException e) {
        unavailable = e.getMessage();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        unavailable = "interrupted while building the kernel emulator";
      }
    }
    return unavailable;
  }

  private static Path build() throws IOException, InterruptedException {
    Path module = Path.of(System.getProperty("user.dir"));
    Path script = module.resolveSibling("kernels").resolve("src/test/emu/build-emu.sh");
    if (!Files.isRegularFile(script)) {
      throw new IllegalStateException(
          "kernel emulator: " + script + " not found (run the tests from the repository)");
    }
    Path out = module.resolve("target/emu");
    Files.createDirectories(out);
    Path log = out.resolve("build.log");
    Process p =
        new ProcessBuilder("bash", script.toString(), out.toString())
            .redirectErrorStream(true)
            .redirectOutput(log.toFile())
            .start();
    if (!p.waitFor(10, TimeUnit.MINUTES)) {
      p.destroyForcibly();
      throw new IllegalStateException(
          "kernel emulator: build-emu.sh took over 10 minutes (log: " + log + ")");
    }
    String text = Files.readString(log, StandardCharsets.UTF_8).strip();
    if (p.exitValue() != 0) {
      String last = text.isEmpty() ? "" : text.substring(text.lastIndexOf('\n') + 1);
      throw new IllegalStateException(
          "kernel emulator not built (build-emu.sh exit " + p.exitValue() + "): " + last);
    }
    Path so = out.resolve("liblorastream_emu.so");
    if (!Files.isRegularFile(so)) {
      throw new IllegalStateException(
          "kernel emulator: build-emu.sh succeeded but " + so + " is missing");
    }
    return so;
  }

  private static Library load(Path so) {
    SymbolLookup lib = SymbolLookup.libraryLookup(so, Arena.global());
    MethodHandle launch =
        LINKER.downcallHandle(
            lib.findOrThrow("emu_launch"),
            FunctionDescriptor.of(
                ValueLayout.JAVA_INT,
                ValueLayout.ADDRESS,
                ValueLayout.JAVA_INT,
                ValueLayout.JAVA_INT,
                ValueLayout.JAVA_INT,
                ValueLayout.JAVA_INT,
                ValueLayout.JAVA_INT,
                ValueLayout.JAVA_INT,
                ValueLayout.JAVA_INT,
                ValueLayout.ADDRESS));
    MethodHandle lastError =
        LINKER.downcallHandle(
            lib.findOrThrow("emu_last_error"), FunctionDescriptor.of(ValueLayout.ADDRESS));
    MethodHandle setOrder =
        LINKER.downcallHandle(
            lib.findOrThrow("emu_set_thread_order"),
            FunctionDescriptor.ofVoid(ValueLayout.JAVA_INT));
    MethodHandle setWorkers =
        LINKER.downcallHandle(
            lib.findOrThrow("emu_set_workers"), FunctionDescriptor.ofVoid(ValueLayout.JAVA_INT));
    try {
      // blocks on every core; results do not depend on it (each block's threads stay on one OS
      // thread)
      setWorkers.invokeExact(Math.max(1, Runtime.getRuntime().availableProcessors()));
    } catch (Throwable t) {
      throw new IllegalStateException(t);
    }
    return new Library(
        launch,
        lastError,
        setOrder,
        LINKER.downcallHandle(
            lib.findOrThrow("emu_symbol_count"), FunctionDescriptor.of(ValueLayout.JAVA_INT)),
        LINKER.downcallHandle(
            lib.findOrThrow("emu_symbol_name"),
            FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.JAVA_INT)),
        LINKER.downcallHandle(
            lib.findOrThrow("emu_symbol_params"),
            FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.ADDRESS)));
  }

  /** Every kernel symbol compiled from kernels/src/main/cuda, sorted. */
  static synchronized java.util.List<String> symbols() {
    try {
      int n = (int) library.symbolCount().invokeExact();
      java.util.List<String> out = new java.util.ArrayList<>();
      for (int i = 0; i < n; i++) {
        out.add(
            ((MemorySegment) library.symbolName().invokeExact(i))
                .reinterpret(Integer.MAX_VALUE)
                .getString(0));
      }
      return out;
    } catch (Throwable t) {
      throw new IllegalStateException(t);
    }
  }

  /**
   * A kernel's parameter kinds as compiled from its source, one letter each: {@code p} pointer,
   * {@code i} int, {@code l} long, {@code f} float, {@code d} double; null for an unknown symbol.
   */
  static synchronized String symbolParams(String symbol) {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment s = (MemorySegment) library.symbolParams().invokeExact(a.allocateFrom(symbol));
      return s.equals(MemorySegment.NULL) ? null : s.reinterpret(Integer.MAX_VALUE).getString(0);
    } catch (Throwable t) {
      throw new IllegalStateException(t);
    }
  }

  /**
   * Threads of a block run tid 0..n-1 between barriers (default), or n-1..0: a missing barrier
   * shows as a difference.
   */
  static synchronized void reverseThreadOrder(boolean reverse) {
    try {
      library.setOrder().invokeExact(reverse ? 1 : 0);
    } catch (Throwable t) {
      throw new IllegalStateException(t);
    }
  }

  /** Skips the calling test, with the reason, when the emulator cannot be built here. */
  static void assumeAvailable() {
    String why = unavailableReason();
    org.junit.jupiter.api.Assumptions.assumeTrue(
        why == null, "kernel emulator unavailable: " + why);
  }

  /** A {@link CudaOps} over a fresh emulator with a 256 MiB pool. */
  static CudaOps ops(String dtypeSetting) {
    return new CudaOps(new KernelEmulator(), dtypeSetting, 256L << 20);
  }

  /**
   * @throws IllegalStateException with {@link #unavailableReason()} when the library cannot be
   *     built
   */
  KernelEmulator() {
    String why = unavailableReason();
    if (why != null) {
      throw new IllegalStateException(why);
    }
  }

  @Override
  public String name() {
    return "cuda-emulator";
  }

  @Override
  public String describe() {
    return "kernel emulator (CPU, test tool)";
  }

  @Override
  public void bind() {}

  @Override
  public long freeBytes() {
    return 1L << 30;
  }

  @Override
  public void allocatePool(long bytes) {
    if (pool != null) {
      throw new IllegalStateException("the device pool is allocated once");
    }
    pool = arena.allocate(bytes, DevicePool.ALIGN);
    pool.fill((byte) 0xFF);
  }

  @Override
  public MemorySegment allocateHost(long bytes) {
    return arena.allocate(bytes, 256);
  }

  @Override
  public void freeHost(MemorySegment host) {}

  @Override
  public Stream createStream(String what) {
    return new Token(what);
  }

  @Override
  public void destroyStream(Stream s) {}

  @Override
  public Event createEvent() {
    return new Token("event");
  }

  @Override
  public void destroyEvent(Event e) {}

  @Override
  public void record(Event e, Stream s) {}

  @Override
  public void waitFor(Stream s, Event e) {}

  @Override
  public void synchronize(Stream s, String after) {}

  private MemorySegment dev(DevPtr p, long bytes) {
    return pool.asSlice(p.offset(), bytes); // throws IndexOutOfBounds outside the pool
  }

  @Override
  public void copyToDevice(MemorySegment src, DevPtr dst, long bytes, Stream s) {
    MemorySegment.copy(src, 0, dev(dst, bytes), 0, bytes);
  }

  @Override
  public void copyToHost(DevPtr src, MemorySegment dst, long bytes, Stream s) {
    MemorySegment.copy(dev(src, bytes), 0, dst, 0, bytes);
  }

  @Override
  public void copyOnDevice(DevPtr src, DevPtr dst, long bytes, Stream s) {
    MemorySegment.copy(dev(src, bytes), 0, dev(dst, bytes), 0, bytes);
  }

  @Override
  public void memsetZero(DevPtr dst, long bytes, Stream s) {
    dev(dst, bytes).fill((byte) 0);
  }

  @Override
  public void launch(CudaKernel kernel, DType dtype, Launch g, Stream s, Object... args) {
    CudaKernels.checkArgs(kernel, dtype, args);
    String symbol = kernel.symbol(dtype);
    synchronized (this) {
      if (failAt >= 0 && launches >= failAt) {
        throw new CudaException("cuLaunchKernel(" + symbol + " " + g + ")", failResult);
      }
      launches++;
    }
    try (Arena call = Arena.ofConfined()) {
      MemorySegment values = call.allocate(8L * Math.max(1, args.length), 8);
      MemorySegment params = call.allocate(ValueLayout.ADDRESS, Math.max(1, args.length));
      for (int i = 0; i < args.length; i++) {
        long at = 8L * i;
        switch (args[i]) {
          case null -> values.set(ValueLayout.JAVA_LONG, at, 0L);
          case DevPtr d -> values.set(ValueLayout.JAVA_LONG, at, dev(d, 0).address());
          case Integer v -> values.set(ValueLayout.JAVA_INT, at, v);
          case Long v -> values.set(ValueLayout.JAVA_LONG, at, v);
          case Float v -> values.set(ValueLayout.JAVA_FLOAT, at, v);
          default ->
              throw new IllegalArgumentException(symbol + ": argument " + i + " of unknown kind");
        }
        params.setAtIndex(ValueLayout.ADDRESS, i, values.asSlice(at, 8));
      }
      int rc;
      synchronized (KernelEmulator.class) {
        rc =
            (int)
                library
                    .launch()
                    .invokeExact(
                        call.allocateFrom(symbol),
                        g.gridX(),
                        g.gridY(),
                        g.gridZ(),
                        g.block(),
                        1,
                        1,
                        0,
                        params);
        if (rc != 0) {
          MemorySegment msg = (MemorySegment) library.lastError().invokeExact();
          throw new CudaException(
              "emu_launch(" + symbol + " " + g + ")",
              "error " + rc + ": " + msg.reinterpret(Integer.MAX_VALUE).getString(0));
        }
      }
    } catch (CudaException | IllegalArgumentException e) {
      throw e;
    } catch (Throwable t) {
      throw new IllegalStateException("emu_launch(" + symbol + "): " + t, t);
    }
  }

  @Override
  public void close() {
    arena.close();
  }
}
