package dev.lorastream.engine.config;

/**
 * Llama-3-style RoPE frequency scaling ({@code rope_scaling.rope_type = "llama3"} in {@code
 * config.json}), the only non-default rope type this engine implements.
 *
 * <p>Semantics (transformers' {@code _compute_llama3_parameters}): with {@code wavelen = 2π /
 * invFreq}, frequencies whose wavelength exceeds {@code originalMaxPositionEmbeddings /
 * lowFreqFactor} are divided by {@code factor}, those shorter than {@code
 * originalMaxPositionEmbeddings / highFreqFactor} are kept, and those between are interpolated
 * smoothly.
 *
 * @param type always {@code "llama3"}
 * @param factor how much longer the context is than the original one (8 for Llama 3.1)
 * @param lowFreqFactor 1 for Llama 3.1
 * @param highFreqFactor 4 for Llama 3.1
 * @param originalMaxPositionEmbeddings the pre-training context (8192 for Llama 3.1)
 */
public record RopeScaling(
    String type,
    double factor,
    double lowFreqFactor,
    double highFreqFactor,
    int originalMaxPositionEmbeddings) {

  public static final String LLAMA3 = "llama3";

  public RopeScaling {
    if (!LLAMA3.equals(type)) {
      throw new IllegalArgumentException(
          "unsupported rope type '" + type + "': only 'llama3' is implemented");
    }
    if (!(factor > 0)
        || !(lowFreqFactor > 0)
        || !(highFreqFactor > lowFreqFactor)
        || originalMaxPositionEmbeddings <= 0) {
      throw new IllegalArgumentException(
          "invalid llama3 rope scaling: factor="
              + factor
              + " low_freq_factor="
              + lowFreqFactor
              + " high_freq_factor="
              + highFreqFactor
              + " original_max_position_embeddings="
              + originalMaxPositionEmbeddings
              + " (need all > 0 and high > low)");
    }
  }

  /**
   * Applies the scaling to default inverse frequencies {@code [headDim/2]}, in float32 like torch.
   */
  float[] apply(float[] invFreq) {
    double lowFreqWavelen = originalMaxPositionEmbeddings / lowFreqFactor;
    double highFreqWavelen = originalMaxPositionEmbeddings / highFreqFactor;
    float twoPi = (float) (2 * Math.PI);
    float[] out = new float[invFreq.length];
    for (int i = 0; i < invFreq.length; i++) {
      float inv = invFreq[i];
      float wavelen = twoPi / inv;
      if (wavelen < highFreqWavelen) {
        out[i] = inv; // high frequency: unchanged
      } else if (wavelen > lowFreqWavelen) {
        out[i] = inv / (float) factor; // low frequency: fully interpolated
      } else {
        float smooth =
            (float)
                ((originalMaxPositionEmbeddings / wavelen - lowFreqFactor)
                    / (highFreqFactor - lowFreqFactor));
        out[i] = (1 - smooth) * inv / (float) factor + smooth * inv; // same order as transformers
      }
    }
    return out;
  }
}
