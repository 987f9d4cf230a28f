package dev.lorastream.engine.ops.cuda;

import dev.lorastream.engine.tensor.DType;

/**
 * Float to 16-bit encodings on the host, rounding to nearest even exactly as CUDA's {@code
 * __float2half_rn} and {@code __float2bfloat16_rn} do (so an uploaded weight equals what a device
 * convert would make).
 */
public final class HostConvert {
  private HostConvert() {}

  /**
   * bf16 bits of {@code f}: the top 16 bits of the float, rounded to nearest even; NaN stays a
   * quiet NaN.
   */
  public static short toBf16(float f) {
    int bits = Float.floatToRawIntBits(f);
    if ((bits & 0x7fffffff) > 0x7f800000) {
      return (short) ((bits >>> 16) | 0x0040);
    }
    int rounding = 0x7fff + ((bits >>> 16) & 1);
    return (short) ((bits + rounding) >>> 16);
  }

  public static float fromBf16(short h) {
    return Float.intBitsToFloat(h << 16);
  }

  /** The 16-bit encoding of {@code f} in {@code dtype} (F16 or BF16). */
  public static short encode(DType dtype, float f) {
    return switch (dtype) {
      case F16 -> Float.floatToFloat16(f);
      case BF16 -> toBf16(f);
      case F32, I8 ->
          throw new IllegalArgumentException(
              "encode: dtype="
                  + dtype.name().toLowerCase(java.util.Locale.ROOT)
                  + " is not a 16-bit type");
    };
  }

  public static float decode(DType dtype, short h) {
    return switch (dtype) {
      case F16 -> Float.float16ToFloat(h);
      case BF16 -> fromBf16(h);
      case F32, I8 ->
          throw new IllegalArgumentException(
              "decode: dtype="
                  + dtype.name().toLowerCase(java.util.Locale.ROOT)
                  + " is not a 16-bit type");
    };
  }
}
