package dev.lorastream.engine.tensor;

import java.util.Locale;

/**
 * Element types of weights and activations, with the names safetensors uses in its header.
 *
 * <p>{@link #I8} is a backend's own format for a matmul weight (int8 with a scale per output row,
 * made at load time by the CPU backend's {@code int8} weight option): never read from a checkpoint
 * nor allocated for activations.
 */
public enum DType {
  F32(4),
  F16(2),
  BF16(2),
  I8(1);

  private final int bytes;

  DType(int bytes) {
    this.bytes = bytes;
  }

  /** Size of one element in bytes. */
  public int bytes() {
    return bytes;
  }

  /** The safetensors header name ({@code "F32"}, {@code "F16"}, {@code "BF16"}). */
  public String safetensorsName() {
    return name();
  }

  /**
   * Parses a safetensors or {@code torch_dtype} name ("BF16", "bfloat16", "float16", ...).
   *
   * @throws IllegalArgumentException naming the value and the supported ones
   */
  public static DType parse(String name) {
    return switch (name.toLowerCase(Locale.ROOT)) {
      case "f32", "float32", "float" -> F32;
      case "f16", "float16", "half" -> F16;
      case "bf16", "bfloat16" -> BF16;
      default ->
          throw new IllegalArgumentException(
              "unsupported dtype '" + name + "': supported are F32, F16 and BF16");
    };
  }
}
