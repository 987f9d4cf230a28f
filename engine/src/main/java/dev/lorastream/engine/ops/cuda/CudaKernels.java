package dev.lorastream.engine.ops.cuda;

import static dev.lorastream.engine.ops.cuda.CudaException.check;

import dev.lorastream.engine.ops.cuda.LaunchGeometry.Launch;
import dev.lorastream.engine.tensor.DType;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUfunction;
import jcuda.driver.CUmodule;
import jcuda.driver.CUstream;
import jcuda.driver.JCudaDriver;

/**
 * The kernels of {@code kernels/ABI.md}, loaded from the PTX text resources {@code
 * kernels/ptx/<family>.ptx} (driver JIT, {@code cuModuleLoadData}; no NVRTC), and the dispatch
 * table {@code kernel × dtype → function}. Every symbol of both dtypes is looked up at load, so a
 * missing kernel fails at startup, not mid-request.
 *
 * <p>Immutable after {@link #load}; launching is thread-safe (the caller binds the context).
 */
final class CudaKernels {
  private static final DType[] DTYPES = {DType.F16, DType.BF16};

  private final Map<DType, EnumMap<CudaKernel, CUfunction>> table = new EnumMap<>(DType.class);

  private CudaKernels() {}

  /** What {@link #load} looks up: resource → symbols (both dtypes), in load order. Pure. */
  static Map<String, List<String>> lookups() {
    Map<String, List<String>> m = new LinkedHashMap<>();
    for (CudaKernel k : CudaKernel.values()) {
      for (DType t : DTYPES) {
        m.computeIfAbsent(k.resource(), r -> new ArrayList<>()).add(k.symbol(t));
      }
    }
    return m;
  }

  /**
   * The PTX text of a family from the classpath.
   *
   * @throws IllegalStateException when the resource is missing (the kernels module was not built)
   */
  static String readPtx(String resource) {
    try (InputStream in = CudaKernels.class.getClassLoader().getResourceAsStream(resource)) {
      if (in == null) {
        throw new IllegalStateException(
            "PTX resource "
                + resource
                + " is not on the classpath (build the kernels module: it produces kernels/ptx/*.ptx)");
      }
      return new String(in.readAllBytes(), StandardCharsets.US_ASCII);
    } catch (IOException e) {
      throw new IllegalStateException(
          "reading PTX resource " + resource + ": " + e.getMessage(), e);
    }
  }

  /** Loads every module and looks up every symbol; the context must be current. */
  static CudaKernels load() {
    CudaKernels k = new CudaKernels();
    for (DType t : DTYPES) {
      k.table.put(t, new EnumMap<>(CudaKernel.class));
    }
    Map<String, CUmodule> modules = new LinkedHashMap<>();
    for (String resource : lookups().keySet()) {
      byte[] text = readPtx(resource).getBytes(StandardCharsets.US_ASCII);
      byte[] z = java.util.Arrays.copyOf(text, text.length + 1); // NUL-terminated image
      CUmodule m = new CUmodule();
      check("cuModuleLoadData(" + resource + ")", JCudaDriver.cuModuleLoadData(m, z));
      modules.put(resource, m);
    }
    for (CudaKernel kernel : CudaKernel.values()) {
      for (DType t : DTYPES) {
        CUfunction f = new CUfunction();
        String sym = kernel.symbol(t);
        check(
            "cuModuleGetFunction(" + sym + " in " + kernel.resource() + ")",
            JCudaDriver.cuModuleGetFunction(f, modules.get(kernel.resource()), sym));
        k.table.get(t).put(kernel, f);
      }
    }
    return k;
  }

  /** Number of (kernel, dtype) entries in the dispatch table. */
  int size() {
    return table.values().stream().mapToInt(Map::size).sum();
  }

  /**
   * Launches {@code kernel} for {@code dtype} with ABI-ordered arguments (see {@link
   * DeviceApi#launch}); {@code base} is the pool's device address, to which {@link
   * DeviceApi.DevPtr} offsets are added.
   */
  void launch(
      CudaKernel kernel, DType dtype, Launch g, CUstream stream, CUdeviceptr base, Object... args) {
    checkArgs(kernel, dtype, args);
    CUfunction f = table.get(dtype).get(kernel);
    Pointer[] p = new Pointer[args.length];
    for (int i = 0; i < args.length; i++) {
      p[i] =
          switch (args[i]) {
            case null -> Pointer.to(new CUdeviceptr());
            case DeviceApi.DevPtr d -> Pointer.to(base.withByteOffset(d.offset()));
            case Integer v -> Pointer.to(new int[] {v});
            case Long v -> Pointer.to(new long[] {v});
            case Float v -> Pointer.to(new float[] {v});
            default -> throw badArg(kernel, dtype, i, kernel.argKinds().charAt(i), args[i]);
          };
    }
    check(
        "cuLaunchKernel(" + kernel.symbol(dtype) + " " + g + ")",
        JCudaDriver.cuLaunchKernel(
            f, g.gridX(), g.gridY(), g.gridZ(), g.block(), 1, 1, 0, stream, Pointer.to(p), null));
  }

  /**
   * Checks ABI-ordered arguments against {@link CudaKernel#argKinds()}: {@link DeviceApi.DevPtr} or
   * null for {@code p}, {@link Integer} for {@code i}, {@link Long} for {@code l}, {@link Float}
   * for {@code f}. Pure.
   *
   * @throws IllegalArgumentException naming the symbol, the argument and the kind the ABI wants
   */
  static void checkArgs(CudaKernel kernel, DType dtype, Object... args) {
    String kinds = kernel.argKinds();
    if (args.length != kinds.length()) {
      throw new IllegalArgumentException(
          kernel.symbol(dtype)
              + ": "
              + args.length
              + " arguments, the ABI has "
              + kinds.length()
              + " ("
              + kinds
              + ")");
    }
    for (int i = 0; i < args.length; i++) {
      Object a = args[i];
      char kind = kinds.charAt(i);
      boolean ok =
          switch (kind) {
            case 'p' -> a == null || a instanceof DeviceApi.DevPtr;
            case 'i' -> a instanceof Integer;
            case 'l' -> a instanceof Long;
            case 'f' -> a instanceof Float;
            default -> throw new IllegalStateException("unknown arg kind " + kind);
          };
      if (!ok) {
        throw badArg(kernel, dtype, i, kind, a);
      }
    }
  }

  private static IllegalArgumentException badArg(
      CudaKernel k, DType t, int i, char kind, Object a) {
    return new IllegalArgumentException(
        k.symbol(t)
            + ": argument "
            + i
            + " is "
            + (a == null ? "null" : a.getClass().getSimpleName())
            + ", the ABI wants kind '"
            + kind
            + "' ("
            + k.argKinds()
            + ")");
  }
}
