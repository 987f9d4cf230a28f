package dev.lorastream.engine.model;

import dev.lorastream.engine.config.Proj;
import dev.lorastream.engine.ops.Tensor;

/**
 * One decoder layer's weights on a backend, read-only once loaded. Linear weights are {@code [out,
 * in]}.
 *
 * @param attnNorm {@code [H]} input_layernorm
 * @param wq {@code [nHeads*headDim, H]}
 * @param wk {@code [nKv*headDim, H]}
 * @param wv {@code [nKv*headDim, H]}
 * @param bq {@code [nHeads*headDim]} or null (Qwen2 has q/k/v biases)
 * @param bk {@code [nKv*headDim]} or null
 * @param bv {@code [nKv*headDim]} or null
 * @param wo {@code [H, nHeads*headDim]}
 * @param mlpNorm {@code [H]} post_attention_layernorm
 * @param wGate {@code [I, H]}
 * @param wUp {@code [I, H]}
 * @param wDown {@code [H, I]}
 */
public record LayerWeights(
    Tensor attnNorm,
    Tensor wq,
    Tensor wk,
    Tensor wv,
    Tensor bq,
    Tensor bk,
    Tensor bv,
    Tensor wo,
    Tensor mlpNorm,
    Tensor wGate,
    Tensor wUp,
    Tensor wDown) {

  /** The base linear weight of a projection. */
  public Tensor linear(Proj p) {
    return switch (p) {
      case Q -> wq;
      case K -> wk;
      case V -> wv;
      case O -> wo;
      case GATE -> wGate;
      case UP -> wUp;
      case DOWN -> wDown;
    };
  }
}
