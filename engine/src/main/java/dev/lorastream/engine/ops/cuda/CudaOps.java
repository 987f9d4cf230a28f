package dev.lorastream.engine.ops.cuda;

import dev.lorastream.engine.ops.OpChecks;
import dev.lorastream.engine.ops.Ops;
import dev.lorastream.engine.ops.Tensor;
import dev.lorastream.engine.ops.cuda.DeviceApi.DevPtr;
import dev.lorastream.engine.ops.cuda.LaunchGeometry.Launch;
import dev.lorastream.engine.tensor.DType;
import dev.lorastream.engine.tensor.HostTensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * The CUDA backend (JCuda driver API, kernels from {@code kernels/ptx/*.ptx}, see {@code
 * kernels/ABI.md}).
 *
 * <p>Activations, weights, KV pages and adapter slots are F16 or BF16 in one device pool ({@link
 * CudaContext}); the dtype follows {@link ActivationDType}'s rule (F16 models compute in F16,
 * others in BF16; {@code lorastream.cuda.dtype} overrides). Every wrapper checks shapes, dtypes,
 * limits and alignment ({@link CudaChecks}), computes the launch from the shapes ({@link
 * LaunchGeometry}), copies the op's small host metadata through a pinned ring, and launches on the
 * compute stream; nothing waits except {@link #copyToHost}. {@code writeRows} uploads on a side
 * stream and the LoRA kernels that read the slot wait for it by event, so decoding of other work
 * continues meanwhile.
 *
 * <p>Thread-safe: calls are serialised on this object (one compute stream). {@code
 * lorastream.cuda.sync-each-launch=true} synchronises after every launch so a fault names its
 * kernel.
 */
public final class CudaOps implements Ops {
  private static final ValueLayout.OfShort I16_LE =
      ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
  private static final ValueLayout.OfFloat F32_LE =
      ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

  private final DeviceApi device;
  private final CudaContext ctx;
  private final ActivationDType act;
  private final boolean syncEachLaunch = Boolean.getBoolean("lorastream.cuda.sync-each-launch");

  /**
   * The backend on {@code lorastream.cuda.device} with {@code lorastream.cuda.dtype} (default
   * auto).
   */
  public CudaOps() {
    this(System.getProperty("lorastream.cuda.dtype", "auto"));
  }

  /**
   * @param dtypeSetting {@code auto}, {@code bf16} or {@code f16}
   * @throws IllegalStateException naming the reason when no usable GPU is present
   */
  public CudaOps(String dtypeSetting) {
    this(dtypeSetting, -1);
  }

  /**
   * @param dtypeSetting {@code auto}, {@code bf16} or {@code f16}
   * @param poolBytes device pool size, or ≤ 0 for {@code lorastream.cuda.pool-bytes} / {@code
   *     pool-fraction}
   */
  public CudaOps(String dtypeSetting, long poolBytes) {
    this(realDevice(), dtypeSetting, poolBytes);
  }

  /**
   * The backend on any {@link DeviceApi}: the real GPU's, or the kernel emulator's in the tests.
   *
   * @param poolBytes device pool size, or ≤ 0 for {@code lorastream.cuda.pool-bytes} / {@code
   *     pool-fraction}
   */
  CudaOps(DeviceApi device, String dtypeSetting, long poolBytes) {
    this.act = new ActivationDType(dtypeSetting);
    this.device = device;
    this.ctx = new CudaContext(device, poolBytes);
  }

  private static DeviceApi realDevice() {
    CudaDevice.Probe p = CudaDevice.probe();
    if (!p.available()) {
      throw new IllegalStateException("cuda backend unavailable: " + p.reason());
    }
    return new JCudaApi(p.device());
  }

  /** Whether a usable GPU is present (probed once per process; never throws). */
  public static boolean available() {
    return CudaDevice.probe().available();
  }

  /** Why {@link #available()} is false, or the device's description when it is true. */
  public static String availability() {
    CudaDevice.Probe p = CudaDevice.probe();
    return p.available() ? p.device().describe() : p.reason();
  }

  @Override
  public String name() {
    return device.name();
  }

  /** Device, compute capability, pool size and activation dtype, for the startup line. */
  public String describe() {
    return device.describe()
        + ", pool "
        + String.format(
            java.util.Locale.ROOT, "%.1f GiB", ctx.pool.capacity() / (double) (1L << 30));
  }

  /**
   * The pool, streams and staging rings, for tests that launch kernels without an {@link Ops}
   * method.
   */
  CudaContext context() {
    return ctx;
  }

  /** Bytes of the pool in use (weights, activations, KV pages, slots, staging). */
  public long poolUsedBytes() {
    return ctx.pool.usedBytes();
  }

  @Override
  public DType activationDType() {
    return act.get();
  }

  // ---- memory ----------------------------------------------------------------------------------

  @Override
  public synchronized Tensor allocate(DType dtype, int... shape) {
    if (dtype == DType.F32) {
      throw new IllegalArgumentException(
          "allocate: the cuda backend keeps tensors in f16/bf16 (activations "
              + act.get()
              + "), not F32 "
              + java.util.Arrays.toString(shape));
    }
    device.bind();
    return ctx.allocate(this, dtype, shape);
  }

  @Override
  public Tensor rows(Tensor t, int n) {
    return mine(t, "rows", "t").rows(n);
  }

  @Override
  public Tensor view(Tensor t, int... shape) {
    CudaTensor c = mine(t, "view", "t");
    OpChecks.viewElements(c, shape);
    return new CudaTensor(c.dtype(), shape.clone(), c.block(), c.byteOffset());
  }

  @Override
  public synchronized Tensor upload(HostTensor weight) {
    DType t = act.onUpload(weight.dtype());
    device.bind();
    CudaTensor dst = ctx.allocate(this, t, weight.shape());
    long n = weight.numel();
    long chunk = ctx.computeRing.capacity() / 2 / 2; // elements per copy
    MemorySegment src = weight.data();
    for (long i = 0; i < n; i += chunk) {
      long len = Math.min(chunk, n - i);
      long off = ctx.computeRing.reserve(len * 2);
      MemorySegment pinned = ctx.computeRing.slice(off, len * 2);
      if (weight.dtype() == t) {
        pinned.copyFrom(src.asSlice(i * 2, len * 2));
      } else {
        for (long j = 0; j < len; j++) {
          pinned.setAtIndex(I16_LE, j, HostConvert.encode(t, weight.getFloat(i + j)));
        }
      }
      ctx.computeRing.toDevice(off, len * 2, ctx.ptr(dst).plus(i * 2));
    }
    return dst;
  }

  @Override
  public synchronized void copyFromHost(float[] src, Tensor dst) {
    CudaTensor d = mine(dst, "copyFromHost", "dst");
    OpChecks.copyFromHost(src, dst);
    device.bind();
    long tmp = ctx.pool.allocate(4L * src.length); // [n] f32
    int chunk = (int) (ctx.computeRing.capacity() / 2 / 4);
    for (int i = 0; i < src.length; i += chunk) {
      int len = Math.min(chunk, src.length - i);
      long off = ctx.computeRing.reserve(4L * len);
      MemorySegment.copy(src, i, ctx.computeRing.slice(off, 4L * len), F32_LE, 0, len);
      ctx.computeRing.toDevice(off, 4L * len, ctx.ptr(tmp).plus(4L * i));
    }
    if (src.length > 0) {
      launch(
          CudaKernel.F32_TO,
          d.dtype(),
          LaunchGeometry.elementwise(src.length),
          ctx.ptr(tmp),
          ctx.ptr(d),
          (long) src.length);
    }
    ctx.pool.free(
        tmp); // later users of this memory are ordered after the convert on the compute stream
  }

  @Override
  public synchronized void copyToHost(Tensor src, float[] dst) {
    CudaTensor s = mine(src, "copyToHost", "src");
    OpChecks.copyToHost(src, dst);
    device.bind();
    ctx.awaitWrites(s);
    long tmp = ctx.pool.allocate(4L * dst.length); // [n] f32
    try {
      if (dst.length > 0) {
        launch(
            CudaKernel.TO_F32,
            s.dtype(),
            LaunchGeometry.elementwise(dst.length),
            ctx.ptr(s),
            ctx.ptr(tmp),
            (long) dst.length);
      }
      int chunk = (int) (ctx.computeRing.capacity() / 2 / 4);
      for (int i = 0; i < dst.length; i += chunk) {
        int len = Math.min(chunk, dst.length - i);
        long off = ctx.computeRing.reserve(4L * len);
        ctx.computeRing.fromDevice(ctx.ptr(tmp).plus(4L * i), off, 4L * len);
        ctx.sync("copyToHost of " + OpChecks.shape(src));
        MemorySegment.copy(ctx.computeRing.slice(off, 4L * len), F32_LE, 0, dst, i, len);
      }
      ctx.sync("copyToHost of " + OpChecks.shape(src));
    } finally {
      ctx.pool.free(tmp);
    }
  }

  @Override
  public synchronized void copyRows(Tensor src, int srcRow, Tensor dst, int dstRow, int rows) {
    CudaTensor s = mine(src, "copyRows", "src");
    CudaTensor d = mine(dst, "copyRows", "dst");
    OpChecks.copyRows(src, srcRow, dst, dstRow, rows);
    if (rows == 0) {
      return;
    }
    device.bind();
    long rowBytes = s.rowBytes();
    device.copyOnDevice(
        ctx.ptr(s).plus(srcRow * rowBytes),
        ctx.ptr(d).plus(dstRow * rowBytes),
        rows * rowBytes,
        ctx.compute);
  }

  // ---- dense ops -------------------------------------------------------------------------------

  @Override
  public synchronized void embed(int[] tokens, Tensor table, Tensor out) {
    CudaChecks.embed(tokens, mine(table, "embed", "table"), mine(out, "embed", "out"), act.get());
    if (tokens.length == 0) {
      return;
    }
    device.bind();
    launch(
        CudaKernel.EMBED,
        LaunchGeometry.perRow(tokens.length),
        ctx.computeRing.ints(tokens),
        p(table),
        p(out),
        tokens.length,
        table.dim(1));
  }

  @Override
  public synchronized void rmsNorm(Tensor x, Tensor weight, float eps, Tensor out) {
    CudaChecks.rmsNorm(
        mine(x, "rmsNorm", "x"),
        mine(weight, "rmsNorm", "weight"),
        mine(out, "rmsNorm", "out"),
        act.get());
    if (x.dim(0) == 0) {
      return;
    }
    device.bind();
    launch(
        CudaKernel.RMS_NORM,
        LaunchGeometry.perRow(x.dim(0)),
        p(x),
        p(weight),
        p(out),
        x.dim(0),
        x.dim(1),
        eps);
  }

  @Override
  public synchronized void add(Tensor acc, Tensor x) {
    CudaChecks.elementwise(
        "add", "acc", mine(acc, "add", "acc"), "x", mine(x, "add", "x"), act.get());
    if (acc.numel() == 0) {
      return;
    }
    device.bind();
    launch(CudaKernel.ADD, LaunchGeometry.elementwise(acc.numel()), p(acc), p(x), acc.numel());
  }

  @Override
  public synchronized void siluMul(Tensor gate, Tensor up, Tensor out) {
    CudaChecks.elementwise(
        "siluMul",
        "gate",
        mine(gate, "siluMul", "gate"),
        "up",
        mine(up, "siluMul", "up"),
        act.get());
    CudaChecks.elementwise("siluMul", "gate", gate, "out", mine(out, "siluMul", "out"), act.get());
    if (gate.numel() == 0) {
      return;
    }
    device.bind();
    launch(
        CudaKernel.SILU_MUL,
        LaunchGeometry.elementwise(gate.numel()),
        p(gate),
        p(up),
        p(out),
        gate.numel());
  }

  @Override
  public synchronized void matmul(Tensor x, Tensor w, Tensor bias, Tensor y) {
    CudaChecks.matmul(
        mine(x, "matmul", "x"),
        mine(w, "matmul", "w"),
        bias == null ? null : mine(bias, "matmul", "bias"),
        mine(y, "matmul", "y"),
        act.get());
    int m = x.dim(0);
    if (m == 0) {
      return;
    }
    device.bind();
    boolean skinny =
        m <= LaunchGeometry.GEMM_SKINNY_MAX_M; // decode: a GEMV bound by reading w once
    launch(
        skinny ? CudaKernel.GEMM_SKINNY : CudaKernel.GEMM,
        skinny ? LaunchGeometry.gemmSkinny(w.dim(0)) : LaunchGeometry.gemm(m, w.dim(0)),
        p(x),
        p(w),
        bias == null ? null : p(bias),
        p(y),
        m,
        w.dim(0),
        x.dim(1));
  }

  @Override
  public synchronized void rope(Tensor q, Tensor k, int[] positions, float[] invFreq, int headDim) {
    CudaChecks.rope(
        mine(q, "rope", "q"), mine(k, "rope", "k"), positions, invFreq, headDim, act.get());
    if (q.dim(0) == 0) {
      return;
    }
    device.bind();
    launch(
        CudaKernel.ROPE,
        LaunchGeometry.rope(q.dim(0)),
        p(q),
        p(k),
        ctx.computeRing.ints(positions),
        ctx.computeRing.floats(invFreq),
        q.dim(0),
        q.dim(1) / headDim,
        k.dim(1) / headDim,
        headDim);
  }

  // ---- paged KV cache and attention -------------------------------------------------------------

  @Override
  public synchronized void writeKv(
      Tensor k, Tensor v, Tensor kCache, Tensor vCache, int[] slotMapping) {
    CudaTensor kc = mine(kCache, "writeKv", "kCache");
    CudaTensor vc = mine(vCache, "writeKv", "vCache");
    CudaChecks.writeKv(
        mine(k, "writeKv", "k"), mine(v, "writeKv", "v"), kc, vc, slotMapping, act.get());
    if (slotMapping.length == 0) {
      return;
    }
    device.bind();
    // the KV pages share their memory with the adapter pool: a page that held an adapter may still
    // be receiving its rows on the side stream (issued before the adapter was evicted)
    ctx.awaitWrites(kc, vc);
    launch(
        CudaKernel.WRITE_KV,
        LaunchGeometry.perRow(k.dim(0)),
        p(k),
        p(v),
        p(kCache),
        p(vCache),
        ctx.computeRing.ints(slotMapping),
        k.dim(0),
        k.dim(1));
  }

  @Override
  public synchronized void pagedAttention(
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
    String op = "pagedAttention";
    CudaChecks.pagedAttention(
        mine(q, op, "q"),
        mine(kCache, op, "kCache"),
        mine(vCache, op, "vCache"),
        blockTables,
        maxBlocksPerSeq,
        tokenSeq,
        tokenPos,
        nHeads,
        mine(out, op, "out"),
        act.get());
    int m = q.dim(0);
    if (m == 0) {
      return;
    }
    device.bind();
    launch(
        CudaKernel.PAGED_ATTENTION,
        LaunchGeometry.pagedAttention(kCache.dim(2), m),
        p(q),
        p(kCache),
        p(vCache),
        ctx.computeRing.ints(blockTables),
        maxBlocksPerSeq,
        ctx.computeRing.ints(tokenSeq),
        ctx.computeRing.ints(tokenPos),
        p(out),
        m,
        nHeads,
        kCache.dim(2),
        kCache.dim(3),
        kCache.dim(1),
        scale);
  }

  // ---- LoRA ------------------------------------------------------------------------------------

  @Override
  public synchronized void sgmvShrink(
      Tensor x, Tensor a, int[] ranks, int[] rowStarts, int[] segStarts, int[] segSlots, Tensor v) {
    CudaTensor vs = mine(v, "sgmvShrink", "v");
    CudaChecks.sgmvShrink(
        mine(x, "sgmvShrink", "x"),
        mine(a, "sgmvShrink", "a"),
        ranks,
        rowStarts,
        segStarts,
        segSlots,
        vs,
        act.get());
    device.bind();
    int s = segSlots.length;
    if (s == 0 || segStarts[0] != 0 || segStarts[s] != x.dim(0)) {
      // rows outside every segment are zero, as for slot -1 (the kernel only writes segment rows)
      device.memsetZero(ctx.ptr(vs), vs.byteSize(), ctx.compute);
    }
    if (s == 0 || x.dim(0) == 0) {
      return;
    }
    ctx.awaitWrites(mine(a, "sgmvShrink", "a"));
    launch(
        CudaKernel.SGMV_SHRINK,
        LaunchGeometry.sgmvShrink(v.dim(1), s, LaunchGeometry.maxSegmentLength(segStarts)),
        p(x),
        p(a),
        ctx.computeRing.ints(ranks),
        ctx.computeRing.ints(rowStarts),
        ctx.computeRing.ints(segStarts),
        ctx.computeRing.ints(segSlots),
        s,
        p(v),
        x.dim(1),
        v.dim(1));
  }

  @Override
  public synchronized void sgmvExpand(
      Tensor v,
      Tensor bT,
      int[] ranks,
      int[] rowStarts,
      int[] segStarts,
      int[] segSlots,
      Tensor y) {
    CudaChecks.sgmvExpand(
        mine(v, "sgmvExpand", "v"),
        mine(bT, "sgmvExpand", "bT"),
        ranks,
        rowStarts,
        segStarts,
        segSlots,
        mine(y, "sgmvExpand", "y"),
        act.get());
    int s = segSlots.length;
    if (s == 0 || v.dim(0) == 0) {
      return;
    }
    device.bind();
    ctx.awaitWrites(mine(bT, "sgmvExpand", "bT"));
    launch(
        CudaKernel.SGMV_EXPAND,
        LaunchGeometry.sgmvExpand(y.dim(1), s, LaunchGeometry.maxSegmentLength(segStarts)),
        p(v),
        p(bT),
        ctx.computeRing.ints(ranks),
        ctx.computeRing.ints(rowStarts),
        ctx.computeRing.ints(segStarts),
        ctx.computeRing.ints(segSlots),
        s,
        p(y),
        y.dim(1),
        v.dim(1));
  }

  @Override
  public synchronized void bgmv(
      Tensor x,
      Tensor a,
      Tensor bT,
      int[] ranks,
      int[] aRows,
      int[] bRows,
      int[] rowSlots,
      Tensor y) {
    CudaTensor as = mine(a, "bgmv", "a");
    CudaTensor bs = mine(bT, "bgmv", "bT");
    CudaChecks.bgmv(
        mine(x, "bgmv", "x"),
        as,
        bs,
        ranks,
        aRows,
        bRows,
        rowSlots,
        mine(y, "bgmv", "y"),
        act.get());
    int m = x.dim(0);
    if (m == 0) {
      return;
    }
    device.bind();
    ctx.awaitWrites(as, bs);
    launch(
        CudaKernel.BGMV,
        LaunchGeometry.perRow(m),
        p(x),
        p(a),
        p(bT),
        ctx.computeRing.ints(ranks),
        ctx.computeRing.ints(aRows),
        ctx.computeRing.ints(bRows),
        ctx.computeRing.ints(rowSlots),
        p(y),
        m,
        x.dim(1),
        y.dim(1),
        CudaChecks.maxRank(ranks));
  }

  /**
   * Uploads on the side stream through the pinned side ring, after the kernels already issued
   * (which may read the rows being replaced); later kernels that read {@code dst} wait for it. The
   * values are converted to the pool's dtype before this backend's lock is taken, so an adapter
   * written from a loader thread holds up the engine thread's launches only for the copy into the
   * ring.
   */
  @Override
  public void writeRows(Tensor dst, int firstRow, float[] src, int rows, float scale) {
    CudaTensor d = mine(dst, "writeRows", "dst");
    CudaChecks.writeRows(d, firstRow, src, rows, act.get());
    if (rows == 0) {
      return;
    }
    long cols = dst.dim(1);
    short[] encoded = new short[src.length];
    for (int i = 0; i < encoded.length; i++) {
      encoded[i] = HostConvert.encode(d.dtype(), src[i] * scale);
    }
    synchronized (this) {
      device.bind();
      long bytes = 2L * encoded.length;
      long off = ctx.sideRing.reserve(bytes);
      MemorySegment.copy(encoded, 0, ctx.sideRing.slice(off, bytes), I16_LE, 0, encoded.length);
      ctx.sideAfterCompute(); // not before the kernels already issued that may read the old rows
      ctx.sideRing.toDevice(off, bytes, ctx.ptr(d).plus(firstRow * cols * 2));
      ctx.markSideWrite(d.block());
    }
  }

  /** Waits until every call issued so far has finished on the device (for timing). */
  public synchronized void synchronize() {
    device.bind();
    ctx.joinSide();
    ctx.sync("synchronize");
  }

  @Override
  public synchronized void close() {
    ctx.close();
  }

  // ---- helpers ---------------------------------------------------------------------------------

  private CudaTensor mine(Tensor t, String op, String arg) {
    CudaTensor c = CudaTensor.of(t, op, arg);
    if (c.block().owner != this) {
      throw new IllegalArgumentException(
          op + ": " + arg + " " + OpChecks.shape(t) + " belongs to another cuda backend");
    }
    return c;
  }

  private DevPtr p(Tensor t) {
    return ctx.ptr((CudaTensor) t);
  }

  private void launch(CudaKernel k, Launch g, Object... args) {
    launch(k, act.get(), g, args);
  }

  private void launch(CudaKernel k, DType dtype, Launch g, Object... args) {
    device.launch(k, dtype, g, ctx.compute, args);
    if (syncEachLaunch) {
      ctx.sync(k.symbol(dtype));
    }
  }
}
