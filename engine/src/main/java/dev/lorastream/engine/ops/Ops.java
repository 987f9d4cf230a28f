package dev.lorastream.engine.ops;

import dev.lorastream.engine.tensor.DType;
import dev.lorastream.engine.tensor.HostTensor;

/**
 * The compute interface the model is written against. The CPU backend (Vector API) and the CUDA
 * backend (JCuda) implement it; model code never names either.
 *
 * <p>Conventions:
 *
 * <ul>
 *   <li>{@code T} is the number of tokens in the step (all sequences, prefill and decode,
 *       concatenated).
 *   <li>Linear weights use Hugging Face's layout {@code [out, in]}: {@code y = x · Wᵀ}.
 *   <li>Small per-step metadata (token ids, positions, block tables, segments) is passed as host
 *       {@code int[]}; a device backend copies it.
 *   <li>Activations are allocated with {@link #activationDType()}; weights keep the dtype they were
 *       uploaded with (a backend may convert at upload).
 *   <li>Every method checks shapes and dtypes at the boundary and throws {@link
 *       IllegalArgumentException} naming the values.
 * </ul>
 *
 * <p>LoRA adapters live in slot buffers (vLLM style): per layer and projection, {@code a [slots,
 * maxRank, in]} and {@code bT [slots, maxRank, out]} (B transposed, already multiplied by the
 * adapter's scale), with {@code ranks[slot]} the live rank of each slot; rows {@code r >=
 * ranks[slot]} are ignored. A slot index of {@code -1} means "no adapter".
 *
 * <p>Instances are thread-safe to the extent that concurrent calls touch disjoint output tensors.
 */
public interface Ops extends AutoCloseable {

  /**
   * The largest LoRA rank ({@code maxRank} of a slot buffer) the engine serves, on every backend:
   * the CUDA kernels' {@code LORA_MAX_RANK} ({@code kernels/src/main/cuda/lora/lora_config.h},
   * {@code bgmv_T}'s shared buffer), stated in {@code kernels/ABI.md}. The one definition; a test
   * holds the header and the ABI to it.
   */
  int MAX_RANK = 256;

  /** Short name for logs: {@code "cpu"}, {@code "reference"}, {@code "cuda:0"}. */
  String name();

  /** The dtype of activations this backend computes in (F32 on the CPU). */
  DType activationDType();

  // ---- memory ----------------------------------------------------------------------------------

  /** A new zero-filled tensor. */
  Tensor allocate(DType dtype, int... shape);

  /**
   * A view of rows {@code [0, n)} of {@code t}'s outermost dimension, sharing its memory: lets a
   * caller allocate scratch once for the largest step and reuse it for every smaller one.
   */
  Tensor rows(Tensor t, int n);

  /**
   * The first {@code prod(shape)} elements of {@code t} as a tensor of {@code shape}, sharing its
   * memory: lets the adapter pool see a KV page arena as row buffers of any width.
   */
  Tensor view(Tensor t, int... shape);

  /**
   * Makes a weight available to the backend; the CPU backend may alias the (mapped) host memory.
   */
  Tensor upload(HostTensor weight);

  /**
   * Uploads a weight that is only ever the {@code w} of {@link #matmul} (a projection, an untied LM
   * head): a backend may keep it in a format of its own (the CPU backend's int8 option). By default
   * {@link #upload}.
   */
  default Tensor uploadLinear(HostTensor weight) {
    return upload(weight);
  }

  /** {@code dst[...] = src} for an F32 host array; {@code src.length == dst.numel()}. */
  void copyFromHost(float[] src, Tensor dst);

  /** Copies {@code src} to a host array as floats; {@code dst.length == src.numel()}. */
  void copyToHost(Tensor src, float[] dst);

  /**
   * Copies rows {@code [srcRow, srcRow+rows)} of a 2-D+ tensor into {@code dst} at {@code dstRow}.
   */
  void copyRows(Tensor src, int srcRow, Tensor dst, int dstRow, int rows);

  // ---- dense ops -------------------------------------------------------------------------------

  /** Semantics: {@code out[t,:] = table[tokens[t],:]}. table {@code [V, H]}, out {@code [T, H]}. */
  void embed(int[] tokens, Tensor table, Tensor out);

  /**
   * Semantics: {@code out[t,:] = x[t,:] / sqrt(mean(x[t,:]²) + eps) * weight}. x, out {@code [T,
   * H]}, weight {@code [H]}. {@code out} may be {@code x}.
   */
  void rmsNorm(Tensor x, Tensor weight, float eps, Tensor out);

  /** Semantics: {@code acc += x}, same shapes. */
  void add(Tensor acc, Tensor x);

  /**
   * Semantics: {@code y[t,o] = Σᵢ x[t,i]·w[o,i] + bias[o]}. x {@code [T, in]}, w {@code [out, in]},
   * bias {@code [out]} or null, y {@code [T, out]} (overwritten).
   */
  void matmul(Tensor x, Tensor w, Tensor bias, Tensor y);

  /**
   * Rotary embedding, Hugging Face's rotate-half convention, in place on q and k. q {@code [T,
   * nHeads * headDim]}, k {@code [T, nKvHeads * headDim]}, positions {@code [T]}, invFreq {@code
   * [headDim/2]}: for {@code i < headDim/2}, angle {@code = positions[t] * invFreq[i]} (computed in
   * fp32), {@code (x[i], x[i+d/2]) ← (x[i]·cos − x[i+d/2]·sin, x[i+d/2]·cos + x[i]·sin)}.
   */
  void rope(Tensor q, Tensor k, int[] positions, float[] invFreq, int headDim);

  /** Semantics: {@code out = silu(gate) * up}, silu(x) = x / (1 + e^-x). All {@code [T, I]}. */
  void siluMul(Tensor gate, Tensor up, Tensor out);

  // ---- paged KV cache and attention -------------------------------------------------------------

  /**
   * Writes this step's keys and values into the paged cache. k, v {@code [T, nKv * headDim]};
   * caches {@code [numBlocks, blockSize, nKv, headDim]}; slotMapping {@code [T]} with slot = block
   * * blockSize + offset.
   */
  void writeKv(Tensor k, Tensor v, Tensor kCache, Tensor vCache, int[] slotMapping);

  /**
   * Causal attention over the paged cache (after {@link #writeKv}): token t of sequence s =
   * tokenSeq[t] attends to positions {@code 0..tokenPos[t]} of s, whose block p / blockSize is
   * {@code blockTables[s * maxBlocksPerSeq + p / blockSize]}. q, out {@code [T, nHeads * headDim]};
   * query head h reads kv head {@code h / (nHeads / nKv)} (GQA). Semantics: {@code out =
   * softmax(q·Kᵀ · scale) · V}.
   */
  void pagedAttention(
      Tensor q,
      Tensor kCache,
      Tensor vCache,
      int[] blockTables,
      int maxBlocksPerSeq,
      int[] tokenSeq,
      int[] tokenPos,
      int nHeads,
      float scale,
      Tensor out);

  // ---- LoRA (Punica semantics) -----------------------------------------------------------------
  //
  // Adapter weights live in row buffers at their true rank (S-LoRA's unified paging, by rank row):
  // a [rows, in] holds the rows of A and bT [rows, out] those of B transposed, and the adapter in
  // slot s owns rows rowStarts[s] .. rowStarts[s] + ranks[s] - 1 of both. A slot's rows are
  // contiguous; where they lie is the adapter pool's choice (AdapterSlots).

  /**
   * Segmented gather matrix-vector, shrink. Rows {@code segStarts[j] .. segStarts[j+1]-1} share
   * slot {@code segSlots[j]}. Semantics: {@code v[t, r] = Σᵢ x[t,i]·a[rowStarts[slot] + r, i]} for
   * {@code r < ranks[slot]}, zero elsewhere and for slot −1. x {@code [T, in]}, a {@code [rows,
   * in]}, v {@code [T, maxRank]} (overwritten); {@code ranks} and {@code rowStarts} have one entry
   * per slot.
   */
  void sgmvShrink(
      Tensor x, Tensor a, int[] ranks, int[] rowStarts, int[] segStarts, int[] segSlots, Tensor v);

  /**
   * Segmented gather matrix-vector, expand. Semantics: {@code y[t, o] += Σ_{r<ranks[slot]}
   * v[t,r]·bT[rowStarts[slot] + r, o]}, nothing for slot −1. v {@code [T, maxRank]}, bT {@code
   * [rows, out]}, y {@code [T, out]}.
   */
  void sgmvExpand(
      Tensor v, Tensor bT, int[] ranks, int[] rowStarts, int[] segStarts, int[] segSlots, Tensor y);

  /**
   * Batched gather matrix-vector with a per-row slot: {@code y[t] += x[t] · A(s)ᵀ · B(s)} with
   * {@code s = rowSlots[t]}, A(s) the rows {@code aRows[s] .. aRows[s] + ranks[s] - 1} of a and
   * B(s) the rows from {@code bRows[s]} of bT (they differ where a and bT are row views of one
   * shared page pool); nothing where {@code s == -1}. x {@code [T, in]}, y {@code [T, out]}.
   */
  void bgmv(
      Tensor x,
      Tensor a,
      Tensor bT,
      int[] ranks,
      int[] aRows,
      int[] bRows,
      int[] rowSlots,
      Tensor y);

  /**
   * Writes rows of an adapter's weights into a row buffer: {@code dst[firstRow + r, :] = src[r, :]
   * · scale} for {@code r < rows} (src {@code [rows, cols]} F32 host values); other rows are left
   * as they are.
   */
  void writeRows(Tensor dst, int firstRow, float[] src, int rows, float scale);

  @Override
  default void close() {}
}
