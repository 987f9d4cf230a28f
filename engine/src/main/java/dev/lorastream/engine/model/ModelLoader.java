package dev.lorastream.engine.model;

import dev.lorastream.engine.config.ModelConfig;
import dev.lorastream.engine.io.NonFiniteWeightException;
import dev.lorastream.engine.io.TensorStore;
import dev.lorastream.engine.ops.Ops;
import dev.lorastream.engine.ops.Tensor;
import dev.lorastream.engine.tensor.HostTensor;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Maps a Hugging Face Llama-family checkpoint ({@code model.layers.N.self_attn.q_proj.weight}, ...)
 * onto {@link LlamaWeights} on a backend. Only names and shapes live here; the math is in {@link
 * LlamaModel}.
 */
public final class ModelLoader {
  private ModelLoader() {}

  /**
   * Loads config and weights, refusing a weight that holds NaN or an infinity ({@link
   * NonFiniteWeightException}). The returned model keeps the tensor store open (the CPU backend may
   * alias its mapped memory): close the model to unmap.
   */
  public static LoadedModel load(Path dir, Ops ops) {
    ModelConfig cfg = ModelConfig.load(dir);
    TensorStore store = TensorStore.openModel(dir);
    try {
      return new LoadedModel(cfg, weights(cfg, store, ops), store);
    } catch (RuntimeException e) {
      store.close();
      throw e;
    }
  }

  static LlamaWeights weights(ModelConfig c, TensorStore store, Ops ops) {
    int h = c.hiddenSize();
    int qDim = c.numHeads() * c.headDim();
    int kvDim = c.numKvHeads() * c.headDim();
    int inter = c.intermediateSize();
    Tensor embed = up(ops, store, "model.embed_tokens.weight", c.vocabSize(), h);
    List<LayerWeights> layers = new ArrayList<>(c.numLayers());
    for (int i = 0; i < c.numLayers(); i++) {
      String p = "model.layers." + i + ".";
      layers.add(
          new LayerWeights(
              up(ops, store, p + "input_layernorm.weight", h),
              linear(ops, store, p + "self_attn.q_proj.weight", qDim, h),
              linear(ops, store, p + "self_attn.k_proj.weight", kvDim, h),
              linear(ops, store, p + "self_attn.v_proj.weight", kvDim, h),
              c.qkvBias() ? up(ops, store, p + "self_attn.q_proj.bias", qDim) : null,
              c.qkvBias() ? up(ops, store, p + "self_attn.k_proj.bias", kvDim) : null,
              c.qkvBias() ? up(ops, store, p + "self_attn.v_proj.bias", kvDim) : null,
              linear(ops, store, p + "self_attn.o_proj.weight", h, qDim),
              up(ops, store, p + "post_attention_layernorm.weight", h),
              linear(ops, store, p + "mlp.gate_proj.weight", inter, h),
              linear(ops, store, p + "mlp.up_proj.weight", inter, h),
              linear(ops, store, p + "mlp.down_proj.weight", h, inter)));
    }
    Tensor norm = up(ops, store, "model.norm.weight", h);
    Tensor lmHead =
        c.tieWordEmbeddings() && store.find("lm_head.weight").isEmpty()
            ? embed
            : linear(ops, store, "lm_head.weight", c.vocabSize(), h);
    return new LlamaWeights(embed, layers, norm, lmHead);
  }

  /**
   * Checks the named weight (shape, and every value finite) and uploads it. The finiteness check
   * reads the mapped bytes eight at a time just before the upload reads them again, so it adds a
   * small fraction to the load.
   *
   * @throws NonFiniteWeightException naming the file, the tensor and the first NaN or infinity
   */
  private static Tensor up(Ops ops, TensorStore store, String name, int... shape) {
    return ops.upload(checked(store, name, shape));
  }

  /** {@link #up} for a weight only ever multiplied by ({@link Ops#uploadLinear}). */
  private static Tensor linear(Ops ops, TensorStore store, String name, int... shape) {
    return ops.uploadLinear(checked(store, name, shape));
  }

  private static HostTensor checked(TensorStore store, String name, int... shape) {
    HostTensor t = store.require(name, shape);
    long bad = t.firstNonFinite();
    if (bad >= 0) {
      throw NonFiniteWeightException.of(
          store.fileOf(name),
          t,
          bad,
          "model weights must be finite: the checkpoint is corrupt or overflowed when it was"
              + " converted (e.g. to F16); re-download or re-convert it");
    }
    return t;
  }
}
