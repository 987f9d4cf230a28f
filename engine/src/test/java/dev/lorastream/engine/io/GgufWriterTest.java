package dev.lorastream.engine.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.engine.io.GgufWriter.TensorType;
import dev.lorastream.engine.testdata.GgufTestReader;
import dev.lorastream.engine.testdata.GgufTestReader.Arr;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GgufWriterTest {
  @TempDir Path tmp;

  @Test
  void writesEveryValueTypeAndAlignedTensors() throws Exception {
    float[] f = {1f, -2.5f, 3.25f};
    byte[] raw = new byte[7 * 2]; // a BF16 [7] tensor of arbitrary bits
    for (int i = 0; i < raw.length; i++) {
      raw[i] = (byte) (i * 37 + 1);
    }
    Path file = tmp.resolve("t.gguf");
    long size =
        new GgufWriter()
            .putString("s", "héllo Ġ")
            .putUInt32("u32", 0xFFFF_FFFFL)
            .putInt32("i32", -7)
            .putFloat32("f32", 0.125f)
            .putBool("yes", true)
            .putBool("no", false)
            .putUInt64("u64", 1L << 40)
            .putStringArray("sa", List.of("a", "", "b c"))
            .putInt32Array("ia", new int[] {1, -2, 3})
            .putFloat32Array("fa", f)
            .addTensor(
                "w.f32",
                TensorType.F32,
                new long[] {3},
                out -> {
                  for (float v : f) {
                    out.writeFloat(v);
                  }
                })
            .addTensor("w.bf16", TensorType.BF16, new long[] {7}, out -> out.write(seg(raw)))
            .addTensor(
                "w.f16",
                TensorType.F16,
                new long[] {2, 3},
                out -> out.write(MemorySegment.ofArray(new byte[12])))
            .write(file);

    GgufTestReader r = new GgufTestReader(file);
    assertEquals(0x46554747, r.magic);
    assertEquals("GGUF", new String(r.range(0, 4)));
    assertEquals(3, r.version);
    assertEquals(
        List.of(
            "s", "u32", "i32", "f32", "yes", "no", "u64", "sa", "ia", "fa", "general.alignment"),
        List.copyOf(r.kv.keySet()));
    assertEquals(new GgufTestReader.Value(8, "héllo Ġ"), r.kv.get("s"));
    assertEquals(new GgufTestReader.Value(4, 0xFFFF_FFFFL), r.kv.get("u32"));
    assertEquals(new GgufTestReader.Value(5, -7), r.kv.get("i32"));
    assertEquals(new GgufTestReader.Value(6, 0.125f), r.kv.get("f32"));
    assertEquals(new GgufTestReader.Value(7, true), r.kv.get("yes"));
    assertEquals(new GgufTestReader.Value(7, false), r.kv.get("no"));
    assertEquals(new GgufTestReader.Value(10, 1L << 40), r.kv.get("u64"));
    assertEquals(new GgufTestReader.Value(9, new Arr(8, List.of("a", "", "b c"))), r.kv.get("sa"));
    assertEquals(new GgufTestReader.Value(9, new Arr(5, List.of(1, -2, 3))), r.kv.get("ia"));
    assertEquals(
        new GgufTestReader.Value(9, new Arr(6, List.of(1f, -2.5f, 3.25f))), r.kv.get("fa"));
    assertEquals(new GgufTestReader.Value(4, 32L), r.kv.get("general.alignment"));

    assertEquals(List.of("w.f32", "w.bf16", "w.f16"), List.copyOf(r.tensors.keySet()));
    assertArrayEquals(new long[] {2, 3}, r.tensors.get("w.f16").ne());
    assertEquals(0, r.tensors.get("w.f32").type());
    assertEquals(30, r.tensors.get("w.bf16").type());
    assertEquals(1, r.tensors.get("w.f16").type());
    assertEquals(0, r.tensors.get("w.f32").offset());
    assertEquals(32, r.tensors.get("w.bf16").offset(), "12 bytes padded to 32");
    assertEquals(64, r.tensors.get("w.f16").offset(), "14 bytes padded to 32");
    assertEquals(0, r.dataStart % 32);
    assertEquals(r.dataStart + 96, r.fileSize(), "the last tensor is padded too");
    assertEquals(size, r.fileSize());
    assertArrayEquals(f, r.floats("w.f32"));
    assertArrayEquals(raw, r.bytes("w.bf16"));
    assertAllZero(r.range(r.infosEnd, r.dataStart));
    assertAllZero(r.range(r.dataStart + 12, r.dataStart + 32));
    assertAllZero(r.range(r.dataStart + 32 + 14, r.dataStart + 64));
    assertFalse(Files.exists(tmp.resolve("t.gguf.part")));
  }

  @Test
  void streamsATensorLargerThanTheBuffer() throws Exception {
    int n = (3 << 20) + 5; // 12 MiB + 20 bytes of F32: several 4 MiB buffers
    Path file = tmp.resolve("big.gguf");
    new GgufWriter()
        .addTensor(
            "big",
            TensorType.F32,
            new long[] {n},
            out -> {
              for (int i = 0; i < n; i++) {
                out.writeFloat(i);
              }
            })
        .write(file);
    GgufTestReader r = new GgufTestReader(file);
    float[] v = r.floats("big");
    assertEquals(n, v.length);
    assertEquals(n - 1f, v[n - 1]);
    assertEquals(12345f, v[12345]);
  }

  @Test
  void refusesDuplicatesBadNamesAndWrongByteCounts() throws Exception {
    GgufWriter w = new GgufWriter().putString("k", "v");
    assertThrows(IllegalArgumentException.class, () -> w.putInt32("k", 1));
    assertThrows(IllegalArgumentException.class, () -> w.putUInt32("u", -1));
    assertThrows(IllegalArgumentException.class, () -> w.putUInt32("u", 1L << 32));
    w.addTensor("t", TensorType.F32, new long[] {2}, out -> out.writeFloat(1f)); // 4 of 8 bytes
    assertThrows(
        IllegalArgumentException.class,
        () -> w.addTensor("t", TensorType.F32, new long[] {1}, out -> {}));
    assertThrows(
        IllegalArgumentException.class,
        () -> w.addTensor("x".repeat(64), TensorType.F32, new long[] {1}, out -> {}));
    assertThrows(
        IllegalArgumentException.class,
        () -> w.addTensor("five", TensorType.F32, new long[] {1, 1, 1, 1, 1}, out -> {}));
    Path file = tmp.resolve("short.gguf");
    IllegalStateException e = assertThrows(IllegalStateException.class, () -> w.write(file));
    assertTrue(e.getMessage().contains("'t' wrote 4 bytes but holds 8"), e.getMessage());
    assertFalse(Files.exists(file));
    assertFalse(Files.exists(tmp.resolve("short.gguf.part")), "the partial file is removed");
  }

  @Test
  void anUnwritableDestinationIsAOneLineError() {
    Path file = tmp.resolve("no-such-dir").resolve("m.gguf");
    IOException e = assertThrows(IOException.class, () -> new GgufWriter().write(file));
    assertTrue(e.getMessage().startsWith("cannot write " + file + ": "), e.getMessage());
    assertTrue(e.getMessage().contains("no such file"), e.getMessage());
    assertFalse(e.getMessage().contains("\n"));
  }

  private static MemorySegment seg(byte[] b) {
    return MemorySegment.ofBuffer(ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN));
  }

  private static void assertAllZero(byte[] b) {
    for (byte x : b) {
      assertEquals(0, x);
    }
  }
}
