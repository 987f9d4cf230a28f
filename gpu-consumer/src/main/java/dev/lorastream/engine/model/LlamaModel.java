package dev.lorastream.engine.model;

import dev.lorastream.engine.kv.KvCache;
import dev.lorastream.engine.lora.AdapterSlots;
import dev.lorastream.engine.ops.Ops;
import dev.lorastream.engine.ops.Tensor;
import dev.lorastream.engine.tensor.DType;

/**
 * The Llama-family decoder (Llama 2/3, Mistral, Qwen2) as one forward step over a heterogeneous batch: the
 * base weights are read once for all rows, and each row adds its own adapter's LoRA delta (Punica's SGMV).
 *
 * <p>Computes only through {@link Ops}; knows no backend. Thread-confined: one engine thread calls {@link
 * #forward}.
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
    int inter = cfg.intermediateSize();
    DType act = ops.activationDType();
    boolean lora = slots != null && batch.hasLora();
    float attnScale = (float) (1.0 / Math.sqrt(hd));

    Tensor x = ops.allocate(act, t, h); // [T, H] residual stream
    Tensor xn = ops.allocate(act, t, h); // [T, H] normed input of a block
    Tensor q = ops.allocate(act, t, qDim); // [T, nHeads*hd]
    Tensor k = ops.allocate(act, t, kvDim); // [T, nKv*hd]
    Tensor v = ops.allocate(act, t, kvDim); // [T, nKv*hd]
    Tensor attn = ops.allocate(act, t, qDim); // [T, nHeads*hd]
    Tensor proj = ops.allocate(act, t, h); // [T, H] output of o_proj / down_proj
    Tensor gate = ops.allocate(act, t, inter); // [T, I]
    Tensor upT = ops.allocate(act, t, inter); // [T, I]
    Tensor loraV = lora ? ops.allocate(act, t, slots.maxRank()) : null; // [T, maxRank]

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
      last = ops.allocate(act, n, h); // [n, H]
      int[] rows = batch.logitRows();
      for (int i = 0; i < n; i++) {
        ops.copyRows(x, rows[i], last, i, 1);
      }
    }
    ops.rmsNorm(last, w.finalNorm(), cfg.rmsNormEps(), last);
    Tensor logits = ops.allocate(act, n, cfg.vocabSize()); // [n, V]
    ops.matmul(last, w.lmHead(), null, logits);
    float[] out = new float[n * cfg.vocabSize()];
    ops.copyToHost(logits, out);
    return out;
  }

  /** y = x·Wᵀ (+ bias), then each row's LoRA delta: LoRA wraps the base layer and never edits it. */
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
    if (loraKernel == LoraKernel.BGMV) {
      ops.bgmv(x, a, bT, ranks, batch.rowSlots(), y);
    } else {
      ops.sgmvShrink(x, a, ranks, batch.segStarts(), batch.segSlots(), loraV);
      ops.sgmvExpand(loraV, bT, ranks, batch.segStarts(), batch.segSlots(), y);
    }
  }
}
