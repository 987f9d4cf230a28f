package dev.lorastream.engine.lora;

/**
 * The low-rank factors of one adapted projection in one layer, decoded to float32, row-major.
 *
 * <p>Semantics: {@code y += scale * (x @ A^T) @ B^T}, i.e. {@code delta W = scale * B @ A}.
 * Read-only by convention: the arrays are shared, not copied, so callers must not write to them.
 *
 * @param rank r
 * @param in the projection's input features
 * @param out the projection's output features
 * @param a {@code [rank, in]} (PEFT's {@code lora_A.weight})
 * @param b {@code [out, rank]} (PEFT's {@code lora_B.weight})
 */
public record LoraWeights(int rank, int in, int out, float[] a, float[] b) {

  public LoraWeights {
    if (a.length != (long) rank * in || b.length != (long) out * rank) {
      throw new IllegalArgumentException(
          "LoRA factors of rank "
              + rank
              + " for "
              + in
              + " -> "
              + out
              + " need a ["
              + rank
              + ", "
              + in
              + "] = "
              + (long) rank * in
              + " and b ["
              + out
              + ", "
              + rank
              + "] = "
              + (long) out * rank
              + " floats but have "
              + a.length
              + " and "
              + b.length);
    }
  }

  /** Float bytes held by both factors. */
  public long bytes() {
    return 4L * (a.length + b.length);
  }
}
