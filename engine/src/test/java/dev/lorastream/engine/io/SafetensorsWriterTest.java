package dev.lorastream.engine.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.lorastream.engine.io.SafetensorsWriter.Entry;
import dev.lorastream.engine.tensor.DType;
import dev.lorastream.engine.testdata.SafetensorsTestReader;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafetensorsWriterTest {
  @TempDir Path tmp;

  @Test
  void roundTripsAllDtypesWithPaddedHeader() throws Exception {
    float[] v = {0f, 1f, -2.5f, 0.1f, 65504f, 1e-3f};
    Path f = tmp.resolve("t.safetensors");
    long size =
        SafetensorsWriter.write(
            f,
            List.of(
                Entry.ofFloats("a.f32", DType.F32, v, 2, 3),
                Entry.ofFloats("b.f16", DType.F16, v, 6),
                Entry.ofFloats("c.bf16", DType.BF16, v, 3, 2),
                Entry.ofFloats("empty", DType.F32, new float[0], 0, 4)));
    SafetensorsTestReader r = new SafetensorsTestReader(f);
    assertEquals(0, r.headerLength % 8, "header padded to 8");
    assertEquals(size, r.fileSize());
    assertEquals("pt", r.header.get("__metadata__").get("format").asText());
    assertEquals(List.of("a.f32", "b.f16", "c.bf16", "empty"), List.copyOf(r.tensors.keySet()));
    assertArrayEquals(new int[] {2, 3}, r.tensors.get("a.f32").shape());
    assertEquals("BF16", r.tensors.get("c.bf16").dtype());
    assertEquals(r.fileSize(), r.dataStart() + r.tensors.get("empty").end(), "data is contiguous");
    assertArrayEquals(v, r.floats("a.f32"));
    for (int i = 0; i < v.length; i++) {
      assertEquals(Float.float16ToFloat(Float.floatToFloat16(v[i])), r.floats("b.f16")[i]);
      assertEquals(v[i], r.floats("c.bf16")[i], Math.abs(v[i]) / 128 + 1e-30);
    }
  }

  @Test
  void bf16RoundsToNearestEven() {
    // 1 + 2^-8 is halfway between bf16 1.0 and 1 + 2^-7: ties to even (1.0); just above rounds up
    assertEquals(0x3F80, SafetensorsWriter.toBf16(1f + 0x1p-8f) & 0xFFFF);
    assertEquals(0x3F81, SafetensorsWriter.toBf16(1f + 0x1p-8f + 0x1p-20f) & 0xFFFF);
    // 1 + 3·2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6 (even): rounds up to even
    assertEquals(0x3F82, SafetensorsWriter.toBf16(1f + 3 * 0x1p-8f) & 0xFFFF);
    assertEquals(0x7F80, SafetensorsWriter.toBf16(Float.POSITIVE_INFINITY) & 0xFFFF);
    assertEquals(
        true, Float.isNaN(Float.intBitsToFloat(SafetensorsWriter.toBf16(Float.NaN) << 16)));
  }

  @Test
  void streamsTensorsLargerThanOneChunk() throws Exception {
    int n = (1 << 20) + 12345; // more than one write chunk
    Path f = tmp.resolve("big.safetensors");
    SafetensorsWriter.write(
        f,
        List.of(
            new Entry(
                "big",
                DType.BF16,
                new int[] {n},
                (start, dst, len) -> {
                  for (int i = 0; i < len; i++) {
                    dst[i] = (start + i) % 251;
                  }
                })));
    float[] back = new SafetensorsTestReader(f).floats("big");
    assertEquals(n, back.length);
    for (int i = 0; i < n; i += 997) {
      assertEquals(i % 251, back[i]);
    }
    assertEquals((n - 1) % 251, back[n - 1]);
  }

  @Test
  void rejectsDuplicateNamesAndWrongValueCounts() {
    Entry a = Entry.ofFloats("x", DType.F32, new float[] {1}, 1);
    assertThrows(
        IllegalArgumentException.class,
        () -> SafetensorsWriter.write(tmp.resolve("d"), List.of(a, a)));
    assertThrows(
        IllegalArgumentException.class, () -> Entry.ofFloats("y", DType.F32, new float[3], 2, 2));
  }
}
