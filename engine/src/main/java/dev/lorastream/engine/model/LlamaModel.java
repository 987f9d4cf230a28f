package dev.lorastream.engine.model;

import dev.lorastream.engine.config.ModelConfig;
import dev.lorastream.engine.config.Proj;
import dev.lorastream.engine.kv.KvCache;
import dev.lorastream.engine.lora.AdapterSlots;
import dev.lorastream.engine.ops.Ops;
import dev.lorastream.engine.ops.Tensor;
import dev.lorastream.engine.tensor.DType;

/**
 * The Llama-family decoder (Llama 2/3, Mistral, Qwen2) as one forward step over a heterogeneous
 * batch: the base weights are read once for all rows, and each row adds its own adapter's LoRA
 * delta (Punica's SGMV).
 *
 * <p>Computes only through {@link Ops}; knows no backend. Thread-confined: one engine thread calls
 * {@link #forward}.
 */
public final class LlamaModel {
  /** LoRA kernel choice: segments (SGMV) or a per-row index (BGMV). Same semantics. */
  public enum LoraKernel {
    SGMV,
    BGMV
  }

  private final ModelConfig cfg;
  private final LlamaWeights w;
  private final Ops ops;
  private final float[] invFreq; // [headDim/2]
  private final LoraKernel loraKernel;

  public LlamaModel(ModelConfig cfg, LlamaWeights weights, Ops ops, LoraKernel loraKernel) {
    this.cfg = cfg;
    this.w = weights;
    this.ops = ops;
    this.invFreq = cfg.ropeInvFreq();
    this.loraKernel = loraKernel;
  }

  public ModelConfig config() {
    return cfg;
  }

  public Ops ops() {
    return ops;
  }

  /**
   * Runs one step: writes every token's K/V into the cache and returns the logits of {@code
   * batch.logitRows()}, row-major {@code [numLogitRows, vocab]}.
   *
   * @param slots adapter slot buffers, or null when no row uses an adapter
   */
  public float[] forward(StepBatch batch, KvCache kv, AdapterSlots slots) {
    int t = batch.numTokens();
    int h = cfg.hiddenSize();
    int hd = cfg.headDim();
    int qDim = cfg.numHeads() * hd;
    int kvDim = cfg.numKvHeads() * hd;
    boolean lora = slots != null && batch.hasLora();
    float attnScale = (float) (1.0 / Math.sqrt(hd));

    int maxRank = lora ? slots.maxRank() : 0;
    Scratch sc = scratch(t, maxRank);
    Tensor x = ops.rows(sc.x, t); // [T, H] residual stream
    Tensor xn = ops.rows(sc.xn, t); // [T, H] normed input of a block
    Tensor q = ops.rows(sc.q, t); // [T, nHeads*hd]
    Tensor k = ops.rows(sc.k, t); // [T, nKv*hd]
    Tensor v = ops.rows(sc.v, t); // [T, nKv*hd]
    Tensor attn = ops.rows(sc.attn, t); // [T, nHeads*hd]
    Tensor proj = ops.rows(sc.proj, t); // [T, H] output of o_proj / down_proj
    Tensor gate = ops.rows(sc.gate, t); // [T, I]
    Tensor upT = ops.rows(sc.up, t); // [T, I]
    Tensor loraV = lora ? ops.rows(sc.loraV, t) : null; // [T, maxRank]

    // 1. token embeddings
    ops.embed(batch.tokens(), w.embed(), x);
    for (int l = 0; l < w.layers().size(); l++) {
      LayerWeights lw = w.layers().get(l);
      // 2. attention block: x += o_proj(attention(rope(q), rope(k), v)) over rmsnorm(x)
      ops.rmsNorm(x, lw.attnNorm(), cfg.rmsNormEps(), xn);
      linear(xn, lw, Proj.Q, lw.bq(), q, l, batch, slots, loraV, lora);
      linear(xn, lw, Proj.K, lw.bk(), k, l, batch, slots, loraV, lora);
      linear(xn, lw, Proj.V, lw.bv(), v, l, batch, slots, loraV, lora);
      ops.rope(q, k, batch.positions(), invFreq, hd);
      ops.writeKv(k, v, kv.keys(l), kv.values(l), batch.slotMapping());
      ops.pagedAttention(
          q,
          kv.keys(l),
          kv.values(l),
          batch.blockTables(),
          batch.maxBlocksPerSeq(),
          batch.tokenSeq(),
          batch.positions(),
          cfg.numHeads(),
          attnScale,
          attn);
      linear(attn, lw, Proj.O, null, proj, l, batch, slots, loraV, lora);
      ops.add(x, proj);
      // 3. MLP block: x += down(silu(gate(xn)) * up(xn)) over rmsnorm(x)
      ops.rmsNorm(x, lw.mlpNorm(), cfg.rmsNormEps(), xn);
      linear(xn, lw, Proj.GATE, null, gate, l, batch, slots, loraV, lora);
      linear(xn, lw, Proj.UP, null, upT, l, batch, slots, loraV, lora);
      ops.siluMul(gate, upT, gate);
      linear(gate, lw, Proj.DOWN, null, proj, l, batch, slots, loraV, lora);
      ops.add(x, proj);
    }
    // 4. final norm and LM head, only for the rows that are sampled
    Tensor last = x;
    int n = batch.numLogitRows();
    if (batch.logitRows() != null) {
      last = ops.rows(sc.last, n); // [n, H]
      int[] rows = batch.logitRows();
      for (int i = 0; i < n; i++) {
        ops.copyRows(x, rows[i], last, i, 1);
      }
    }
    ops.rmsNorm(last, w.finalNorm(), cfg.rmsNormEps(), last);
    Tensor logits = ops.rows(sc.logits, n); // [n, V]
    ops.matmul(last, w.lmHead(), null, logits);
    float[] out = new float[n * cfg.vocabSize()];
    ops.copyToHost(logits, out);
    return out;
  }

  /**
   * Activation buffers sized for the largest step so far, reused by every step through row views:
   * no per-step allocation (native memory is only returned by the GC on the CPU backend).
   */
  private record Scratch(
      int capacity,
      int maxRank,
      Tensor x,
      Tensor xn,
      Tensor q,
      Tensor k,
      Tensor v,
      Tensor attn,
      Tensor proj,
      Tensor gate,
      Tensor up,
      Tensor loraV,
      Tensor last,
      Tensor logits) {}

  private Scratch scratch;

  private Scratch scratch(int tokens, int maxRank) {
    int rank = Math.max(maxRank, 1);
    if (scratch != null
        && scratch.capacity >= tokens
        && (maxRank == 0 || scratch.maxRank == rank)) {
      return scratch;
    }
    int cap = Math.max(tokens, scratch == null ? 0 : scratch.capacity);
    DType act = ops.activationDType();
    int h = cfg.hiddenSize();
    int qDim = cfg.numHeads() * cfg.headDim();
    int kvDim = cfg.numKvHeads() * cfg.headDim();
    int inter = cfg.intermediateSize();
    scratch =
        new Scratch(
            cap,
            rank,
            ops.allocate(act, cap, h),
            ops.allocate(act, cap, h),
            ops.allocate(act, cap, qDim),
            ops.allocate(act, cap, kvDim),
            ops.allocate(act, cap, kvDim),
            ops.allocate(act, cap, qDim),
            ops.allocate(act, cap, h),
            ops.allocate(act, cap, inter),
            ops.allocate(act, cap, inter),
            ops.allocate(act, cap, rank),
            ops.allocate(act, cap, h),
            ops.allocate(act, cap, cfg.vocabSize()));
    return scratch;
  }

  /**
   * y = x·Wᵀ (+ bias), then each row's LoRA delta: LoRA wraps the base layer and never edits it.
   */
  private void linear(
      Tensor x,
      LayerWeights lw,
      Proj p,
      Tensor bias,
      Tensor y,
      int layer,
      StepBatch batch,
      AdapterSlots slots,
      Tensor loraV,
      boolean lora) {
    ops.matmul(x, lw.linear(p), bias, y);
    if (!lora || !slots.hasTarget(p)) {
      return;
    }
    Tensor a = slots.a(p, layer);
    Tensor bT = slots.bT(p, layer);
    int[] ranks = slots.ranks(p);
    int[] aRows = slots.aRows(p);
    int[] bRows = slots.bRows(p);
    if (loraKernel == LoraKernel.BGMV) {
      ops.bgmv(x, a, bT, ranks, aRows, bRows, batch.rowSlots(), y);
    } else {
      ops.sgmvShrink(x, a, ranks, aRows, batch.segStarts(), batch.segSlots(), loraV);
      ops.sgmvExpand(loraV, bT, ranks, bRows, batch.segStarts(), batch.segSlots(), y);
    }
  }
}
