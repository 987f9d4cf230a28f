package dev.lorastream.engine.testdata;

import dev.lorastream.engine.io.SafetensorsWriter.ValueSource;
import java.nio.charset.StandardCharsets;

/**
 * Cheap deterministic pseudo-random tensor values for generated test models and adapters.
 *
 * <p>Counter-based: element {@code i} of a tensor is {@code splitmix64(seed + i·γ)} turned into a
 * value, so any element (and any chunking) gives the same result, and each tensor's seed is derived
 * from the run's seed and the tensor's name, so a tensor's values do not depend on which file or
 * shard it is written to.
 *
 * <p>Approximate normal: the sum of four 16-bit uniforms (Irwin–Hall, n=4), centred and scaled to
 * unit variance; support is ±2√3 ≈ ±3.46σ. One 64-bit hash per element: gigabytes take seconds, not
 * minutes.
 */
public final class SeededValues {
  private static final long GOLDEN = 0x9E3779B97F4A7C15L;

  /** √3 / 65536: four lanes of U[0, 65536) have variance 4·65536²/12 = 65536²/3. */
  private static final float IRWIN_HALL_SCALE = (float) (Math.sqrt(3.0) / 65536.0);

  private SeededValues() {}

  /** The SplitMix64 finalizer: a bijective 64-bit mix. */
  public static long mix(long z) {
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }

  /** A seed for one named stream (a tensor, an adapter) derived from a parent seed. */
  public static long derive(long seed, String name) {
    long h = 0xCBF29CE484222325L; // FNV-1a 64 over the UTF-8 name
    for (byte b : name.getBytes(StandardCharsets.UTF_8)) {
      h = (h ^ (b & 0xFF)) * 0x100000001B3L;
    }
    return mix(mix(seed) ^ h);
  }

  /** A seed for the {@code index}-th child of {@code seed}. */
  public static long derive(long seed, long index) {
    return mix(mix(seed) + (index + 1) * GOLDEN);
  }

  /** Approximately N(0, 1) for element {@code i} of stream {@code seed}. */
  public static float normal(long seed, long i) {
    long z = mix(seed + i * GOLDEN);
    long sum = (z & 0xFFFF) + ((z >>> 16) & 0xFFFF) + ((z >>> 32) & 0xFFFF) + (z >>> 48);
    return (sum - 131070L) * IRWIN_HALL_SCALE; // each lane has mean 32767.5
  }

  /** Values {@code mean + std·N(0,1)} for the stream {@code seed}. */
  public static ValueSource normal(long seed, float mean, float std) {
    return (start, dst, len) -> {
      for (int k = 0; k < len; k++) {
        dst[k] = mean + std * normal(seed, start + k);
      }
    };
  }
}
