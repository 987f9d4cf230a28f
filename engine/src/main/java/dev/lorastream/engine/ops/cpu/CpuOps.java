package dev.lorastream.engine.ops.cpu;

import static dev.lorastream.engine.ops.cpu.CpuMatmul.F;
import static dev.lorastream.engine.ops.cpu.CpuMatmul.L;

import dev.lorastream.engine.ops.OpChecks;
import dev.lorastream.engine.ops.Ops;
import dev.lorastream.engine.ops.Tensor;
import dev.lorastream.engine.ops.cpu.NativeCpu.Kernel;
import dev.lorastream.engine.tensor.DType;
import dev.lorastream.engine.tensor.HostTensor;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.EnumSet;
import jdk.incubator.vector.FloatVector;

/**
 * The CPU backend: Java Vector API ({@code SPECIES_PREFERRED}), F32 activations, multi-threaded
 * over a fixed pool of {@code lorastream.cpu.threads} threads (default: available processors).
 *
 * <p>Weights: F32 and BF16 are used in place (aliasing the mapped file when its memory is native);
 * F16 is converted to F32 at {@link #upload} (no fast fp16 decode in the Vector API; costs 2×
 * memory). Activations, KV caches and LoRA slot buffers are F32 or BF16 ({@link #allocate} rejects
 * F16).
 *
 * <p>Heap. Each thread that runs part of a call (the caller and the pool's workers) has its own
 * {@link CpuMatmul.Scratch}, owned by this backend and looked up once per chunk of work, never in
 * an inner loop. Its buffers grow to the largest call and are then reused: a matmul or LoRA shrink
 * of a size seen before allocates no activation-sized arrays, only the loop's few task objects.
 *
 * <p>Thread-safe for concurrent calls on disjoint outputs. {@link #close} stops the worker threads.
 */
public final class CpuOps implements Ops {
  /** The system property with the thread count of {@link #CpuOps()}. */
  public static final String THREADS = "lorastream.cpu.threads";

  /** The system property choosing {@link #CpuOps()}'s {@link WeightFormat}: stored or int8. */
  public static final String WEIGHTS = "lorastream.cpu.weights";

  /** How the matmul weights given to {@link #uploadLinear} are kept. */
  public enum WeightFormat {
    /** As the checkpoint stores them (F32, BF16; F16 widened to F32). */
    STORED,
    /**
     * Quantized to int8 per output row at load ({@link CpuInt8Weight}), activations to int8 per
     * token at each matmul, products summed exactly in int32 (AVX512_VNNI): half the bytes of BF16,
     * four products per lane per instruction to bf16dot's two. Norms, embeddings, biases and LoRA
     * adapters keep their dtype (QLoRA-style serving). Error: each weight within {@code scale/2} of
     * its value, each activation within {@code max|x|/254}.
     */
    INT8;

    /** Parses a {@link #WEIGHTS} value, naming the valid ones when it is none of them. */
    public static WeightFormat parse(String value) {
      return switch (value.trim().toLowerCase(java.util.Locale.ROOT)) {
        case "stored", "" -> STORED;
        case "int8" -> INT8;
        default ->
            throw new IllegalArgumentException(
                WEIGHTS + "=" + value + " is invalid: use stored (the default) or int8");
      };
    }
  }

  private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

  /**
   * F32 activations; dense weights and LoRA A slots F32 or BF16, B slots F32 (what the kernels
   * read).
   */
  private static final OpChecks CONTRACT =
      new OpChecks(
          DType.F32,
          EnumSet.of(DType.F32, DType.BF16),
          EnumSet.of(DType.F32, DType.BF16),
          EnumSet.of(DType.F32));

  /** {@link #CONTRACT} with int8 matmul weights ({@link CpuInt8Weight}) allowed. */
  private static final OpChecks INT8_CONTRACT =
      new OpChecks(
          DType.F32,
          EnumSet.of(DType.F32, DType.BF16, DType.I8),
          EnumSet.of(DType.F32, DType.BF16),
          EnumSet.of(DType.F32));

  private final CpuParallel pool;

  /** Per-thread scratch of this backend's calls; see the class comment. */
  private final ThreadLocal<CpuMatmul.Scratch> scratch =
      ThreadLocal.withInitial(CpuMatmul.Scratch::new);

  private final CpuLora lora;

  /** The matmul kernel ({@link NativeCpu}); {@code lib} is null for {@link Kernel#VECTOR}. */
  private final Kernel kernel;

  private final NativeCpu lib;

  private final WeightFormat weights;

  /** The native library when {@link #weights} is INT8 (whatever {@link #kernel} is), else null. */
  private final NativeCpu int8Lib;

  /**
   * A backend with {@code lorastream.cpu.threads} threads (default: available processors), the
   * kernels {@link NativeCpu#choice} picked for this JVM and the weight format of {@code
   * lorastream.cpu.weights} (default stored).
   *
   * @throws IllegalArgumentException when {@code lorastream.cpu.weights} is invalid, or int8 and
   *     this machine cannot run the int8 kernel
   */
  public CpuOps() {
    this(
        Integer.getInteger(THREADS, Runtime.getRuntime().availableProcessors()),
        NativeCpu.choice().kernel(),
        WeightFormat.parse(System.getProperty(WEIGHTS, "stored")));
  }

  public CpuOps(int threads) {
    this(threads, NativeCpu.choice().kernel());
  }

  /** A backend running {@code kernel} with the weights as stored. */
  public CpuOps(int threads, Kernel kernel) {
    this(threads, kernel, WeightFormat.STORED);
  }

  /**
   * A backend running {@code kernel} (tests and benchmarks compare them in one process).
   *
   * @throws IllegalArgumentException when {@code kernel} is native and this machine cannot run it
   *     ({@link NativeCpu#canRun})
   */
  public CpuOps(int threads, Kernel kernel, WeightFormat weights) {
    if (weights == WeightFormat.INT8 && !NativeCpu.canRunInt8()) {
      throw new IllegalArgumentException(
          WEIGHTS
              + "=int8 cannot run here ("
              + NativeCpu.int8Unavailable()
              + "): use "
              + WEIGHTS
              + "=stored");
    }
    if (!NativeCpu.canRun(kernel)) {
      throw new IllegalArgumentException(
          "the cpu kernel "
              + kernel
              + " cannot run here: "
              + NativeCpu.choose("auto").description());
    }
    this.pool = new CpuParallel(threads);
    this.lora = new CpuLora(pool, scratch);
    this.kernel = kernel;
    this.lib = kernel == Kernel.VECTOR ? null : NativeCpu.library();
    this.weights = weights;
    this.int8Lib = weights == WeightFormat.INT8 ? NativeCpu.library() : null;
  }

  /** How this backend keeps matmul weights. */
  public WeightFormat weightFormat() {
    return weights;
  }

  /** The matmul kernel this backend runs for BF16 weights. */
  public Kernel kernel() {
    return kernel;
  }

  @Override
  public String name() {
    return "cpu";
  }

  @Override
  public DType activationDType() {
    return DType.F32;
  }

  // ---- memory ----------------------------------------------------------------------------------

  @Override
  public Tensor allocate(DType dtype, int... shape) {
    if (dtype == DType.F16) {
      throw new IllegalArgumentException(
          "allocate: the cpu backend has no F16 kernels; allocate F32 or BF16 (shape "
              + java.util.Arrays.toString(shape)
              + ")");
    }
    return CpuTensor.zeros(dtype, shape);
  }

  @Override
  public Tensor rows(Tensor t, int n) {
    return CpuTensor.of(t, "rows", "t").rows(n);
  }

  @Override
  public Tensor view(Tensor t, int... shape) {
    CpuTensor c = CpuTensor.of(t, "view", "t");
    long n = OpChecks.viewElements(c, shape);
    return new CpuTensor(c.dtype(), shape, c.segment().asSlice(0, n * c.dtype().bytes()));
  }

  @Override
  public Tensor upload(HostTensor weight) {
    MemorySegment data = weight.data();
    return switch (weight.dtype()) {
      // Native (mapped) memory is used in place; a heap segment is copied once so hot loops see one
      // kind.
      case F32, BF16 ->
          data.isNative()
              ? new CpuTensor(weight.dtype(), weight.shape(), data)
              : copyToNative(weight.dtype(), weight.shape(), data);
      case F16 -> {
        CpuTensor t = CpuTensor.zeros(DType.F32, weight.shape());
        for (long i = 0; i < t.numel(); i++) {
          t.segment().setAtIndex(CpuTensor.F32_LE, i, weight.getFloat(i));
        }
        yield t;
      }
      case I8 -> throw new IllegalStateException("unreachable: a HostTensor is never I8");
    };
  }

  /**
   * {@link #upload}, or with {@link WeightFormat#INT8} the weight quantized per output row into a
   * {@link CpuInt8Weight} (the rows split over the pool).
   */
  @Override
  public Tensor uploadLinear(HostTensor weight) {
    Tensor t = upload(weight);
    if (weights != WeightFormat.INT8) {
      return t;
    }
    OpChecks.rank("uploadLinear", "weight", t, 2);
    int out = t.dim(0);
    int in = t.dim(1);
    if (in > 65536) {
      throw new IllegalArgumentException(
          "uploadLinear: "
              + weight.name()
              + " has in = "
              + in
              + " > 65536, over the int8 kernel's exact int32 sums: use "
              + WEIGHTS
              + "=stored");
    }
    CpuTensor c = (CpuTensor) t;
    int wbf16 = c.dtype() == DType.BF16 ? 1 : 0;
    java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofAuto();
    MemorySegment q = arena.allocate(Math.max(1, (long) out * in), 64).asSlice(0, (long) out * in);
    MemorySegment scale = arena.allocate(4L * out, 64);
    MemorySegment qsum = arena.allocate(4L * out, 64);
    MemorySegment w = c.segment();
    pool.forRange(
        out,
        pool.grain(out, 64),
        (o0, o1) -> {
          try {
            int8Lib.quantizeI8.invokeExact(w, wbf16, in, q, scale, qsum, o0, o1);
          } catch (Throwable e) {
            throw nativeFailure("ls_quantize_i8", e);
          }
        });
    return new CpuInt8Weight(out, in, q, scale, qsum);
  }

  private static CpuTensor copyToNative(DType dtype, int[] shape, MemorySegment data) {
    CpuTensor t = CpuTensor.zeros(dtype, shape);
    t.segment().copyFrom(data);
    return t;
  }

  @Override
  public void copyFromHost(float[] src, Tensor dst) {
    CpuTensor d = CpuTensor.of(dst, "copyFromHost", "dst");
    OpChecks.copyFromHost(src, dst);
    if (d.dtype() == DType.F32) {
      MemorySegment.copy(src, 0, d.segment(), CpuTensor.F32_LE, 0, src.length);
    } else {
      for (int i = 0; i < src.length; i++) {
        d.set(i, src[i]);
      }
    }
  }

  @Override
  public void copyToHost(Tensor src, float[] dst) {
    CpuTensor s = CpuTensor.of(src, "copyToHost", "src");
    OpChecks.copyToHost(src, dst);
    if (s.dtype() == DType.F32) {
      MemorySegment.copy(s.segment(), CpuTensor.F32_LE, 0, dst, 0, dst.length);
    } else {
      for (int i = 0; i < dst.length; i++) {
        dst[i] = s.get(i);
      }
    }
  }

  @Override
  public void copyRows(Tensor src, int srcRow, Tensor dst, int dstRow, int rows) {
    CpuTensor s = CpuTensor.of(src, "copyRows", "src");
    CpuTensor d = CpuTensor.of(dst, "copyRows", "dst");
    OpChecks.copyRows(src, srcRow, dst, dstRow, rows);
    long rowBytes = src.numel() / src.dim(0) * src.dtype().bytes();
    MemorySegment.copy(
        s.segment(), srcRow * rowBytes, d.segment(), dstRow * rowBytes, rows * rowBytes);
  }

  // ---- dense ops -------------------------------------------------------------------------------

  @Override
  public void embed(int[] tokens, Tensor table, Tensor out) {
    CpuTensor tab = CpuTensor.of(table, "embed", "table");
    CpuTensor o = CpuTensor.of(out, "embed", "out");
    CONTRACT.embed(tokens, table, out);
    int h = table.dim(1);
    for (int t = 0; t < tokens.length; t++) {
      long row = (long) tokens[t] * h;
      if (tab.dtype() == DType.F32) {
        MemorySegment.copy(tab.segment(), row * 4, o.segment(), (long) t * h * 4, h * 4L);
      } else {
        for (int i = 0; i < h; i++) {
          o.segment().setAtIndex(CpuTensor.F32_LE, (long) t * h + i, tab.get(row + i));
        }
      }
    }
  }

  @Override
  public void rmsNorm(Tensor x, Tensor weight, float eps, Tensor out) {
    CpuTensor xs = CpuTensor.of(x, "rmsNorm", "x");
    CpuTensor o = CpuTensor.of(out, "rmsNorm", "out");
    CONTRACT.rmsNorm(x, weight, out);
    int h = x.dim(1);
    float[] w = floats(CpuTensor.of(weight, "rmsNorm", "weight"));
    MemorySegment xm = xs.segment();
    MemorySegment om = o.segment();
    pool.forRange(
        x.dim(0),
        pool.grain(x.dim(0), 2),
        (t0, t1) -> {
          for (int t = t0; t < t1; t++) {
            long row = (long) t * h * 4;
            int ub = F.loopBound(h);
            FloatVector sq = FloatVector.zero(F);
            for (int i = 0; i < ub; i += L) {
              FloatVector v = FloatVector.fromMemorySegment(F, xm, row + 4L * i, LE);
              sq = v.fma(v, sq);
            }
            float sum = LaneMath.sum(sq);
            for (int i = ub; i < h; i++) {
              float v = xm.get(CpuTensor.F32_LE, row + 4L * i);
              sum += v * v;
            }
            float inv = (float) (1.0 / Math.sqrt(sum / h + eps));
            for (int i = 0; i < ub; i += L) {
              FloatVector v = FloatVector.fromMemorySegment(F, xm, row + 4L * i, LE);
              v.mul(inv)
                  .mul(FloatVector.fromArray(F, w, i))
                  .intoMemorySegment(om, row + 4L * i, LE);
            }
            for (int i = ub; i < h; i++) {
              om.set(
                  CpuTensor.F32_LE,
                  row + 4L * i,
                  xm.get(CpuTensor.F32_LE, row + 4L * i) * inv * w[i]);
            }
          }
        });
  }

  /** A small weight (norm, bias) decoded to floats. */
  static float[] floats(CpuTensor t) {
    return t.toFloatArray();
  }

  @Override
  public void add(Tensor acc, Tensor x) {
    CpuTensor a = CpuTensor.of(acc, "add", "acc");
    CpuTensor b = CpuTensor.of(x, "add", "x");
    CONTRACT.elementwise("add", "acc", acc, "x", x);
    elementwise(a.segment(), b.segment(), a.segment(), false);
  }

  @Override
  public void siluMul(Tensor gate, Tensor up, Tensor out) {
    CpuTensor g = CpuTensor.of(gate, "siluMul", "gate");
    CpuTensor u = CpuTensor.of(up, "siluMul", "up");
    CpuTensor o = CpuTensor.of(out, "siluMul", "out");
    CONTRACT.elementwise("siluMul", "gate", gate, "up", up);
    CONTRACT.elementwise("siluMul", "gate", gate, "out", out);
    elementwise(g.segment(), u.segment(), o.segment(), true);
  }

  /**
   * out = a + b, or silu(a) * b when {@code silu}; F32 segments of equal size, parallel in chunks.
   */
  private void elementwise(MemorySegment a, MemorySegment b, MemorySegment out, boolean silu) {
    int n = Math.toIntExact(a.byteSize() / 4);
    int chunk = 16 * 1024; // floats per task: a multiple of every vector length
    pool.forRange(
        (n + chunk - 1) / chunk,
        1,
        (c0, c1) -> {
          int from = c0 * chunk;
          int to = Math.min(n, c1 * chunk);
          int ub = from + F.loopBound(to - from);
          for (int i = from; i < ub; i += L) {
            FloatVector x = FloatVector.fromMemorySegment(F, a, 4L * i, LE);
            FloatVector y = FloatVector.fromMemorySegment(F, b, 4L * i, LE);
            FloatVector r = silu ? x.div(LaneMath.exp(x.neg()).add(1f)).mul(y) : x.add(y);
            r.intoMemorySegment(out, 4L * i, LE);
          }
          for (int i = ub; i < to; i++) {
            float x = a.getAtIndex(CpuTensor.F32_LE, i);
            float y = b.getAtIndex(CpuTensor.F32_LE, i);
            out.setAtIndex(
                CpuTensor.F32_LE, i, silu ? (float) (x / (1 + Math.exp(-x))) * y : x + y);
          }
        });
  }

  @Override
  public void matmul(Tensor x, Tensor w, Tensor bias, Tensor y) {
    CpuTensor xs = CpuTensor.of(x, "matmul", "x");
    CpuTensor ys = CpuTensor.of(y, "matmul", "y");
    float[] b = bias == null ? null : floats(CpuTensor.of(bias, "matmul", "bias"));
    int tokens = x.dim(0);
    int in = x.dim(1);
    int out = w.dim(0);
    if (w instanceof CpuInt8Weight q) {
      INT8_CONTRACT.matmul(x, w, bias, y);
      int8Matmul(xs.segment(), q, b, ys.segment(), tokens, in, out);
      return;
    }
    CpuTensor ws = CpuTensor.of(w, "matmul", "w");
    CONTRACT.matmul(x, w, bias, y);
    boolean bf16 = w.dtype() == DType.BF16;
    if (lib != null) {
      nativeMatmul(xs.segment(), ws.segment(), bf16, b, ys.segment(), tokens, in, out);
      return;
    }
    // [tokens, in], in this (calling) thread's scratch: the workers only read it, and only until
    // forRange returns
    float[] packed =
        CpuMatmul.pack(xs.segment(), 0, in, tokens, in, bf16, scratch.get().packed(tokens * in));
    CpuMatmul.Weights wv = new CpuMatmul.Weights(ws.segment(), 0, bf16, in);
    CpuMatmul.Out o = new CpuMatmul.Out(ys.segment(), 0, out, b);
    int groups = CpuMatmul.groups(out);
    pool.forRange(
        groups,
        pool.grain(groups, 8),
        (g0, g1) -> {
          CpuMatmul.Scratch s = scratch.get();
          for (int g = g0; g < g1; g++) {
            CpuMatmul.runGroup(wv, out, g, packed, 0, tokens, o, s);
          }
        });
  }

  /**
   * {@link #matmul} on the native kernels: {@code bf16dot} for BF16 weights when this backend runs
   * it (the activations rounded to BF16 once, by the calling thread, into its scratch), else {@code
   * fma}; the output rows split over the pool in groups of 4.
   */
  private void nativeMatmul(
      MemorySegment x,
      MemorySegment w,
      boolean bf16,
      float[] bias,
      MemorySegment y,
      int tokens,
      int in,
      int out) {
    MemorySegment b = bias == null ? MemorySegment.NULL : MemorySegment.ofArray(bias);
    int groups = CpuMatmul.groups(out);
    if (bf16 && (kernel == Kernel.BF16DOT || kernel == Kernel.AMX)) {
      int in2 = lib.bf16Stride(in);
      MemorySegment xb = scratch.get().bf16(tokens * (long) in2);
      try {
        lib.packBf16.invokeExact(x, in, tokens, in, xb);
      } catch (Throwable e) {
        throw nativeFailure("ls_pack_bf16", e);
      }
      if (kernel == Kernel.AMX && tokens >= NativeCpu.AMX_MIN_TOKENS) {
        long scratchBytes = lib.amxScratchBytes(in, tokens);
        pool.forRange(
            groups,
            pool.grain(groups, 8),
            (g0, g1) -> {
              MemorySegment tiles = scratch.get().amx(scratchBytes);
              try {
                lib.matmulAmx.invokeExact(
                    xb, w, in, y, out, b, tokens, g0 * 4, Math.min(out, g1 * 4), tiles);
              } catch (Throwable e) {
                throw nativeFailure("ls_matmul_amx", e);
              }
            });
        return;
      }
      pool.forRange(
          groups,
          pool.grain(groups, 8),
          (g0, g1) -> {
            try {
              lib.matmulBf16dot.invokeExact(
                  xb, w, in, y, out, b, tokens, g0 * 4, Math.min(out, g1 * 4));
            } catch (Throwable e) {
              throw nativeFailure("ls_matmul_bf16dot", e);
            }
          });
      return;
    }
    int wbf16 = bf16 ? 1 : 0;
    pool.forRange(
        groups,
        pool.grain(groups, 8),
        (g0, g1) -> {
          try {
            lib.matmulFma.invokeExact(
                x, in, w, wbf16, in, y, out, b, tokens, g0 * 4, Math.min(out, g1 * 4));
          } catch (Throwable e) {
            throw nativeFailure("ls_matmul_fma", e);
          }
        });
  }

  /**
   * {@link #matmul} with an int8 weight: the activations quantized per token by the calling thread
   * into its scratch ({@code [tokens] F32 scales, then [tokens, u8Stride] bytes}), then {@code
   * ls_matmul_i8} over the pool in groups of 4 rows.
   */
  private void int8Matmul(
      MemorySegment x,
      CpuInt8Weight w,
      float[] bias,
      MemorySegment y,
      int tokens,
      int in,
      int out) {
    NativeCpu l = int8Lib != null ? int8Lib : NativeCpu.library();
    if (l == null || !NativeCpu.canRunInt8()) {
      throw new IllegalStateException(
          "matmul: an int8 weight needs the int8 kernel: " + NativeCpu.int8Unavailable());
    }
    MemorySegment b = bias == null ? MemorySegment.NULL : MemorySegment.ofArray(bias);
    int in2 = l.u8Stride(in);
    long scalesBytes = (4L * tokens + 63) & ~63L;
    MemorySegment buf = scratch.get().u8(scalesBytes + (long) tokens * in2);
    MemorySegment xs = buf.asSlice(0, 4L * tokens);
    MemorySegment u8 = buf.asSlice(scalesBytes, (long) tokens * in2);
    try {
      l.packU8.invokeExact(x, in, tokens, in, u8, xs);
    } catch (Throwable e) {
      throw nativeFailure("ls_pack_u8", e);
    }
    int groups = CpuMatmul.groups(out);
    pool.forRange(
        groups,
        pool.grain(groups, 8),
        (g0, g1) -> {
          try {
            l.matmulI8.invokeExact(
                u8, xs, w.q, w.scale, w.qsum, in, y, out, b, tokens, g0 * 4, Math.min(out, g1 * 4));
          } catch (Throwable e) {
            throw nativeFailure("ls_matmul_i8", e);
          }
        });
  }

  private static RuntimeException nativeFailure(String what, Throwable e) {
    if (e instanceof RuntimeException r) {
      return r;
    }
    if (e instanceof Error err) {
      throw err;
    }
    return new IllegalStateException(what + " failed", e);
  }

  @Override
  public void rope(Tensor q, Tensor k, int[] positions, float[] invFreq, int headDim) {
    CpuTensor qs = CpuTensor.of(q, "rope", "q");
    CpuTensor ks = CpuTensor.of(k, "rope", "k");
    CONTRACT.rope(q, k, positions, invFreq, headDim);
    CpuAttention.rope(pool, qs, ks, positions, invFreq, headDim);
  }

  // ---- paged KV cache and attention -------------------------------------------------------------

  @Override
  public void writeKv(Tensor k, Tensor v, Tensor kCache, Tensor vCache, int[] slotMapping) {
    CpuTensor ks = CpuTensor.of(k, "writeKv", "k");
    CpuTensor vs = CpuTensor.of(v, "writeKv", "v");
    CpuTensor kc = CpuTensor.of(kCache, "writeKv", "kCache");
    CpuTensor vc = CpuTensor.of(vCache, "writeKv", "vCache");
    CONTRACT.writeKv(k, v, kCache, vCache, slotMapping);
    long rowBytes = k.dim(1) * 4L;
    for (int t = 0; t < slotMapping.length; t++) {
      MemorySegment.copy(
          ks.segment(), t * rowBytes, kc.segment(), slotMapping[t] * rowBytes, rowBytes);
      MemorySegment.copy(
          vs.segment(), t * rowBytes, vc.segment(), slotMapping[t] * rowBytes, rowBytes);
    }
  }

  @Override
  public void pagedAttention(
      Tensor q,
      Tensor kCache,
      Tensor vCache,
      int[] blockTables,
      int maxBlocksPerSeq,
      int[] tokenSeq,
      int[] tokenPos,
      int nHeads,
      float scale,
      Tensor out) {
    CpuTensor qs = CpuTensor.of(q, "pagedAttention", "q");
    CpuTensor kc = CpuTensor.of(kCache, "pagedAttention", "kCache");
    CpuTensor vc = CpuTensor.of(vCache, "pagedAttention", "vCache");
    CpuTensor os = CpuTensor.of(out, "pagedAttention", "out");
    CONTRACT.pagedAttention(
        q, kCache, vCache, blockTables, maxBlocksPerSeq, tokenSeq, tokenPos, nHeads, out);
    int headDim = kCache.dim(3);
    if (lib != null && headDim <= 256 && kCache.dtype() == DType.F32) {
      nativeAttend(qs, kc, vc, blockTables, maxBlocksPerSeq, tokenSeq, tokenPos, nHeads, scale, os);
      return;
    }
    CpuAttention.attend(
        pool, qs, kc, vc, blockTables, maxBlocksPerSeq, tokenSeq, tokenPos, nHeads, scale, os);
  }

  /**
   * {@link #pagedAttention} on the native kernel ({@code ls_attend}): the (token, head) items split
   * over the pool, each thread with its own scores buffer.
   */
  private void nativeAttend(
      CpuTensor q,
      CpuTensor kCache,
      CpuTensor vCache,
      int[] blockTables,
      int maxBlocksPerSeq,
      int[] tokenSeq,
      int[] tokenPos,
      int nHeads,
      float scale,
      CpuTensor out) {
    int blockSize = kCache.dim(1);
    int nKv = kCache.dim(2);
    int headDim = kCache.dim(3);
    int maxLen = 1;
    for (int p : tokenPos) {
      maxLen = Math.max(maxLen, p + 1);
    }
    int longest = maxLen;
    MemorySegment tables = MemorySegment.ofArray(blockTables);
    MemorySegment seqs = MemorySegment.ofArray(tokenSeq);
    MemorySegment pos = MemorySegment.ofArray(tokenPos);
    int items = tokenSeq.length * nHeads;
    pool.forRange(
        items,
        pool.grain(items, 4),
        (i0, i1) -> {
          MemorySegment sc = scratch.get().scores(longest);
          try {
            lib.attend.invokeExact(
                q.segment(),
                kCache.segment(),
                vCache.segment(),
                tables,
                maxBlocksPerSeq,
                seqs,
                pos,
                nHeads,
                nKv,
                headDim,
                blockSize,
                scale,
                out.segment(),
                sc,
                i0,
                i1);
          } catch (Throwable e) {
            throw nativeFailure("ls_attend", e);
          }
        });
  }

  // ---- LoRA ------------------------------------------------------------------------------------

  @Override
  public void sgmvShrink(
      Tensor x, Tensor a, int[] ranks, int[] rowStarts, int[] segStarts, int[] segSlots, Tensor v) {
    CpuTensor xs = CpuTensor.of(x, "sgmvShrink", "x");
    CpuTensor as = CpuTensor.of(a, "sgmvShrink", "a");
    CpuTensor vs = CpuTensor.of(v, "sgmvShrink", "v");
    CONTRACT.sgmvShrink(x, a, ranks, rowStarts, segStarts, segSlots, v);
    lora.shrink(xs, as, ranks, rowStarts, segStarts, segSlots, vs);
  }

  @Override
  public void sgmvExpand(
      Tensor v,
      Tensor bT,
      int[] ranks,
      int[] rowStarts,
      int[] segStarts,
      int[] segSlots,
      Tensor y) {
    CpuTensor vs = CpuTensor.of(v, "sgmvExpand", "v");
    CpuTensor bs = CpuTensor.of(bT, "sgmvExpand", "bT");
    CpuTensor ys = CpuTensor.of(y, "sgmvExpand", "y");
    CONTRACT.sgmvExpand(v, bT, ranks, rowStarts, segStarts, segSlots, y);
    lora.expand(vs, bs, ranks, rowStarts, segStarts, segSlots, ys);
  }

  @Override
  public void bgmv(
      Tensor x,
      Tensor a,
      Tensor bT,
      int[] ranks,
      int[] aRows,
      int[] bRows,
      int[] rowSlots,
      Tensor y) {
    CpuTensor xs = CpuTensor.of(x, "bgmv", "x");
    CpuTensor as = CpuTensor.of(a, "bgmv", "a");
    CpuTensor bs = CpuTensor.of(bT, "bgmv", "bT");
    CpuTensor ys = CpuTensor.of(y, "bgmv", "y");
    CONTRACT.bgmv(x, a, bT, ranks, aRows, bRows, rowSlots, y);
    lora.bgmv(xs, as, bs, ranks, aRows, bRows, rowSlots, ys);
  }

  @Override
  public void writeRows(Tensor dst, int firstRow, float[] src, int rows, float scale) {
    CpuTensor d = CpuTensor.of(dst, "writeRows", "dst");
    CONTRACT.writeRows(dst, firstRow, src, rows);
    long base = (long) firstRow * dst.dim(1);
    for (int i = 0; i < src.length; i++) {
      d.set(base + i, src[i] * scale);
    }
  }

  @Override
  public void close() {
    pool.close();
  }
}
