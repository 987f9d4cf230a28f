package dev.lorastream.engine.model;

import dev.lorastream.engine.ops.Tensor;
import java.util.List;

/**
 * All weights of a Llama-family model on one backend. Read-only and shared by every running batch.
 *
 * @param embed {@code [V, H]} model.embed_tokens
 * @param layers one per decoder layer
 * @param finalNorm {@code [H]} model.norm
 * @param lmHead {@code [V, H]}; the same tensor as {@code embed} when tie_word_embeddings
 */
public record LlamaWeights(
    Tensor embed, List<LayerWeights> layers, Tensor finalNorm, Tensor lmHead) {
  public LlamaWeights {
    layers = List.copyOf(layers);
  }
}
