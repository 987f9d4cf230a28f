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
