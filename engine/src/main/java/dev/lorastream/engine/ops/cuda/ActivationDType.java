package dev.lorastream.engine.ops.cuda;

import dev.lorastream.engine.tensor.DType;
import java.util.Locale;

/**
 * The rule for the CUDA backend's activation dtype, decided once per backend:
 *
 * <ol>
 *   <li>{@code lorastream.cuda.dtype=bf16} or {@code f16} forces it;
 *   <li>otherwise ({@code auto}, the default) the first weight uploaded decides: F16 weights
 *       compute in F16 (no rounding of the weights, and fp16's 10-bit mantissa), BF16 and F32
 *       weights in BF16 (fp32's range; F32 checkpoints are usually trained in bf16);
 *   <li>if something asks before any upload, BF16.
 * </ol>
 *
 * <p>{@code ModelLoader} uploads the weights before anything allocates activations, KV pages or
 * adapter slots, so in practice the model's dtype decides. Once decided it never changes; later
 * weights of another dtype are converted at upload. Thread-safe.
 */
final class ActivationDType {
  private DType chosen;

  ActivationDType(String setting) {
    this.chosen = parse(setting);
  }

  /** {@code auto} → null (undecided), {@code bf16}/{@code f16} → that dtype. */
  static DType parse(String setting) {
    return switch (setting.toLowerCase(Locale.ROOT)) {
      case "auto", "" -> null;
      case "bf16", "bfloat16" -> DType.BF16;
      case "f16", "fp16", "float16", "half" -> DType.F16;
      default ->
          throw new IllegalArgumentException(
              "lorastream.cuda.dtype = '" + setting + "': use auto, bf16 or f16");
    };
  }

  /** The activation dtype for a model whose weights are {@code weights}. */
  static DType forWeights(DType weights) {
    return weights == DType.F16 ? DType.F16 : DType.BF16;
  }

  /** Called by every upload: decides on the first one. */
  synchronized DType onUpload(DType weights) {
    if (chosen == null) {
      chosen = forWeights(weights);
    }
    return chosen;
  }

  /** The dtype, deciding BF16 if nothing was uploaded yet. */
  synchronized DType get() {
    if (chosen == null) {
      chosen = DType.BF16;
    }
    return chosen;
  }
}
