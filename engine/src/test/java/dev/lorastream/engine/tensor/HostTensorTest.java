package dev.lorastream.engine.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import org.junit.jupiter.api.Test;

class HostTensorTest {

  @Test
  void decodesBf16AndF16LittleEndian() {
    // 1.5f = 0x3FC00000 -> bf16 0x3FC0; -2.0 fp16 = 0xC000
    MemorySegment bf = MemorySegment.ofArray(new byte[] {(byte) 0xC0, 0x3F});
    assertEquals(1.5f, new HostTensor("b", DType.BF16, new int[] {1}, bf).getFloat(0));
    MemorySegment hf = MemorySegment.ofArray(new byte[] {0x00, (byte) 0xC0});
    assertEquals(-2.0f, new HostTensor("h", DType.F16, new int[] {1}, hf).getFloat(0));
  }

  @Test
  void roundTripsFloats() {
    HostTensor t = HostTensor.ofFloats("x", new float[] {1, -2, 3.25f, 0}, 2, 2);
    assertArrayEquals(new float[] {1, -2, 3.25f, 0}, t.toFloatArray());
    assertEquals(2, t.dim(-1));
  }

  /**
   * {@code n} elements of {@code dtype}, all the largest finite value with either sign (every
   * exponent bit but one set, the nearest finite encoding to Inf), except {@code bits} at {@code
   * at}.
   */
  private static HostTensor withElement(DType dtype, int n, int at, int bits) {
    MemorySegment s = MemorySegment.ofArray(new byte[n * dtype.bytes()]);
    for (int i = 0; i < n; i++) {
      int v =
          switch (dtype) {
            case F32 -> Float.floatToRawIntBits(i % 2 == 0 ? Float.MAX_VALUE : -Float.MAX_VALUE);
            case F16 -> i % 2 == 0 ? 0x7BFF : 0xFBFF;
            case BF16 -> i % 2 == 0 ? 0x7F7F : 0xFF7F;
            case I8 -> throw new IllegalArgumentException("a host tensor is never I8");
          };
      put(s, dtype, i, i == at ? bits : v);
    }
    return new HostTensor("t", dtype, new int[] {n}, s);
  }

  private static void put(MemorySegment s, DType dtype, int i, int bits) {
    for (int b = 0; b < dtype.bytes(); b++) {
      s.set(
          java.lang.foreign.ValueLayout.JAVA_BYTE,
          (long) i * dtype.bytes() + b,
          (byte) (bits >>> (8 * b)));
    }
  }

  @Test
  void firstNonFiniteFindsNanAndInfinitiesAtEveryPositionInEachDtype() {
    int n = 37; // four 8-byte words at a time, a single word, then a tail, for every dtype
    for (DType dtype : java.util.EnumSet.of(DType.F32, DType.F16, DType.BF16)) { // a file's dtypes
      int[] bad =
          switch (dtype) {
            case F32 -> new int[] {0x7FC00000, 0x7F800000, 0xFF800000, 0x7F800001};
            case F16 -> new int[] {0x7E00, 0x7C00, 0xFC00, 0x7C01};
            case BF16 -> new int[] {0x7FC0, 0x7F80, 0xFF80, 0x7F81};
            case I8 -> throw new IllegalArgumentException("a host tensor is never I8");
          };
      assertEquals(-1, withElement(dtype, n, -1, 0).firstNonFinite(), dtype.toString());
      for (int at = 0; at < n; at++) {
        for (int b : bad) {
          HostTensor t = withElement(dtype, n, at, b);
          assertEquals(at, t.firstNonFinite(), dtype + " bits " + Integer.toHexString(b));
          float[] dst = new float[n];
          assertEquals(at, t.decodeTo(dst), dtype + " bits " + Integer.toHexString(b));
        }
      }
    }
  }

  @Test
  void positionOfAFlatIndexIsRowMajor() {
    HostTensor t = HostTensor.ofFloats("x", new float[24], 2, 3, 4);
    assertArrayEquals(new int[] {1, 2, 3}, t.position(23));
    assertArrayEquals(new int[] {1, 0, 1}, t.position(13));
  }

  @Test
  void rejectsDataOfTheWrongSizeNamingTheTensor() {
    var e =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                new HostTensor(
                    "w", DType.F32, new int[] {2, 2}, MemorySegment.ofArray(new byte[12])));
    assertTrue(e.getMessage().contains("'w'"), e.getMessage());
    assertTrue(e.getMessage().contains("needs 16 bytes but has 12"), e.getMessage());
  }

  @Test
  void parsesTorchDtypeNames() {
    assertEquals(DType.BF16, DType.parse("bfloat16"));
    assertEquals(DType.F16, DType.parse("float16"));
    assertThrows(IllegalArgumentException.class, () -> DType.parse("int8"));
  }
}
