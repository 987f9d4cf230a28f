package dev.lorastream.engine.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.engine.tensor.DType;
import dev.lorastream.engine.tensor.HostTensor;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafetensorsFileTest {

  @TempDir Path tmp;
  private final Arena arena = Arena.ofShared();

  @AfterEach
  void closeArena() {
    arena.close();
  }

  private static void assertMentions(Throwable e, String... parts) {
    for (String p : parts) {
      assertTrue(e.getMessage().contains(p), "message lacks '" + p + "': " + e.getMessage());
    }
  }

  @Test
  void loadsF32F16AndBf16ValuesExactlyWithShapesAndMetadata() {
    float[] values = {1.5f, -2f, 0.25f, 3f, -0.125f, 96.5f}; // all exact in F16 and BF16
    Path file =
        new TestSafetensors()
            .f32("w.f32", values, 2, 3)
            .f16("w.f16", values, 3, 2)
            .bf16("w.bf16", values, 6)
            .metadata("format", "pt")
            .write(tmp.resolve("m.safetensors"));

    SafetensorsFile f = SafetensorsFile.open(file, arena);

    assertEquals(Set.of("w.f32", "w.f16", "w.bf16"), f.names());
    assertEquals(Map.of("format", "pt"), f.metadata());
    assertEquals(file, f.path());
    HostTensor t32 = f.get("w.f32");
    assertEquals(DType.F32, t32.dtype());
    assertArrayEquals(new int[] {2, 3}, t32.shape());
    assertArrayEquals(values, t32.toFloatArray());
    assertEquals(DType.F16, f.get("w.f16").dtype());
    assertArrayEquals(new int[] {3, 2}, f.get("w.f16").shape());
    assertArrayEquals(values, f.get("w.f16").toFloatArray());
    assertEquals(DType.BF16, f.get("w.bf16").dtype());
    assertArrayEquals(values, f.get("w.bf16").toFloatArray());
  }

  @Test
  void missingFileIsRefusedNamingThePath() {
    Path file = tmp.resolve("nope.safetensors");
    var e = assertThrows(ModelFormatException.class, () -> SafetensorsFile.open(file, arena));
    assertMentions(e, file.toString(), "not found");
  }

  @Test
  void truncatedDataIsRefusedNamingFileTensorAndSizes() throws Exception {
    Path file =
        new TestSafetensors()
            .f32("layer.w", new float[4], 2, 2)
            .write(tmp.resolve("t.safetensors"));
    byte[] all = Files.readAllBytes(file);
    TestSafetensors.writeBytes(file, Arrays.copyOf(all, all.length - 4));

    var e = assertThrows(SafetensorsFormatException.class, () -> SafetensorsFile.open(file, arena));
    assertMentions(
        e,
        file.toString(),
        "'layer.w'",
        "ends at data offset 16",
        "only 12 data bytes, fewer than the 16 its tensors need",
        "the file is truncated");
  }

  @Test
  void offsetsBeyondTheDataOfAWholeFileBlameTheHeaderNotTruncation() {
    // 16 data bytes, exactly what the one F32[2, 2] needs, but the header puts it at [16, 32)
    Path file =
        TestSafetensors.writeRaw(
            tmp.resolve("shifted.safetensors"),
            "{\"layer.w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[16,32]}}",
            new byte[16]);

    var e = assertThrows(SafetensorsFormatException.class, () -> SafetensorsFile.open(file, arena));
    assertMentions(
        e,
        file.toString(),
        "'layer.w'",
        "data_offsets [16, 32] beyond the end of the data (16 bytes)",
        "large enough for all 16 bytes",
        "the header's data_offsets are wrong");
    assertTrue(!e.getMessage().contains("the file is truncated"), e.getMessage());
  }

  @Test
  void aHeaderOfOnlyWhitespaceIsCalledEmptyNotMissing() {
    Path file = TestSafetensors.writeRaw(tmp.resolve("blank.safetensors"), "    ", new byte[0]);

    var e = assertThrows(SafetensorsFormatException.class, () -> SafetensorsFile.open(file, arena));
    assertMentions(
        e,
        file + " (safetensors header) is empty (or only whitespace); it must hold a JSON object");
    assertTrue(!e.getMessage().contains("MISSING"), e.getMessage());
  }

  @Test
  void headerLyingAboutOffsetsIsRefusedNamingShapeAndSpan() {
    Path file =
        TestSafetensors.writeRaw(
            tmp.resolve("lie.safetensors"),
            "{\"layer.w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}}",
            new byte[16]);

    var e = assertThrows(SafetensorsFormatException.class, () -> SafetensorsFile.open(file, arena));
    assertMentions(e, file.toString(), "'layer.w'", "F32[2, 2] = 16 bytes", "span 12 bytes");
  }

  @Test
  void unsupportedDtypeIsRefusedNamingTensorAndDtype() {
    Path file =
        new TestSafetensors()
            .raw("ids", "I32", new int[] {2}, new byte[8])
            .write(tmp.resolve("i.safetensors"));

    var e = assertThrows(SafetensorsFormatException.class, () -> SafetensorsFile.open(file, arena));
    assertMentions(e, file.toString(), "'ids'", "dtype I32", "only F32, F16 and BF16");
  }

  @Test
  void fileShorterThanTheLengthFieldIsRefused() {
    Path file = TestSafetensors.writeBytes(tmp.resolve("short.safetensors"), new byte[5]);
    var e = assertThrows(SafetensorsFormatException.class, () -> SafetensorsFile.open(file, arena));
    assertMentions(e, file.toString(), "is 5 bytes long");
  }

  @Test
  void absurdHeaderLengthIsRefused() {
    byte[] bytes = new byte[16];
    Arrays.fill(bytes, 0, 8, (byte) 0x7f); // length 0x7f7f7f7f7f7f7f7f
    Path file = TestSafetensors.writeBytes(tmp.resolve("garbage.safetensors"), bytes);
    var e = assertThrows(SafetensorsFormatException.class, () -> SafetensorsFile.open(file, arena));
    assertMentions(e, file.toString(), "header length 9187201950435737471 is absurd");
  }

  @Test
  void headerLongerThanTheFileIsRefused() {
    byte[] bytes = new byte[20];
    bytes[0] = 100; // claims 100 header bytes, 12 present
    Path file = TestSafetensors.writeBytes(tmp.resolve("cut.safetensors"), bytes);
    var e = assertThrows(SafetensorsFormatException.class, () -> SafetensorsFile.open(file, arena));
    assertMentions(e, file.toString(), "header claims 100 bytes but the file has only 12");
  }

  @Test
  void invalidJsonHeaderIsRefused() {
    Path file =
        TestSafetensors.writeRaw(
            tmp.resolve("bad.safetensors"), "{\"w\": {\"dtype\": ", new byte[0]);
    var e = assertThrows(SafetensorsFormatException.class, () -> SafetensorsFile.open(file, arena));
    assertMentions(e, file.toString(), "not valid JSON");
  }

  @Test
  void overlappingTensorsAreRefusedNamingBoth() {
    Path file =
        TestSafetensors.writeRaw(
            tmp.resolve("overlap.safetensors"),
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
            new byte[12]);
    var e = assertThrows(SafetensorsFormatException.class, () -> SafetensorsFile.open(file, arena));
    assertMentions(e, file.toString(), "'b' [4, 12) overlaps 'a' [0, 8)");
  }

  @Test
  void anEmptyTensorBetweenTwoOverlappingOnesDoesNotHideTheOverlap() {
    // sorted by offset: a [0, 16), e [8, 8), b [12, 18): a and b overlap though e sits between
    // them (the fuzzer's finding-empty-tensor-hides-overlap)
    Path file =
        TestSafetensors.writeRaw(
            tmp.resolve("hidden.safetensors"),
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                + "\"e\":{\"dtype\":\"F16\",\"shape\":[0],\"data_offsets\":[8,8]},"
                + "\"b\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[12,18]}}",
            new byte[18]);
    var e = assertThrows(SafetensorsFormatException.class, () -> SafetensorsFile.open(file, arena));
    assertMentions(e, file.toString(), "'b' [12, 18) overlaps 'a' [0, 16)");
  }

  @Test
  void shapeWhoseElementCountOverflowsALongIsRefused() {
    // 65536^4 = 2^64 elements wraps to 0 in a long; unchecked, data_offsets [0, 0] "fit" it
    Path file =
        TestSafetensors.writeRaw(
            tmp.resolve("wrap.safetensors"),
            "{\"w\":{\"dtype\":\"F32\",\"shape\":[65536,65536,65536,65536],"
                + "\"data_offsets\":[0,0]}}",
            new byte[0]);
    var e = assertThrows(SafetensorsFormatException.class, () -> SafetensorsFile.open(file, arena));
    assertMentions(
        e,
        file.toString(),
        "'w' shape [65536,65536,65536,65536] has more than 9223372036854775807 elements");
  }

  @Test
  void emptyTensorWithHugeOtherDimensionsIsAccepted() {
    Path file =
        TestSafetensors.writeRaw(
            tmp.resolve("empty.safetensors"),
            "{\"w\":{\"dtype\":\"F32\",\"shape\":[65536,65536,65536,65536,0],"
                + "\"data_offsets\":[0,0]}}",
            new byte[0]);
    assertEquals(0, SafetensorsFile.open(file, arena).get("w").numel());
  }

  @Test
  void headerThatIsNotStrictUtf8IsRefusedNamingTheByte() {
    // C0 AE is an overlong '.': a lenient decoder reads the name as "a.b"
    byte[] json =
        "{\"a\u0000\u0000b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}"
            .getBytes(StandardCharsets.UTF_8);
    json[3] = (byte) 0xc0;
    json[4] = (byte) 0xae;
    byte[] bytes =
        ByteBuffer.allocate(8 + json.length + 4)
            .order(ByteOrder.LITTLE_ENDIAN)
            .putLong(json.length)
            .put(json)
            .array();
    Path file = TestSafetensors.writeBytes(tmp.resolve("utf8.safetensors"), bytes);
    var e = assertThrows(SafetensorsFormatException.class, () -> SafetensorsFile.open(file, arena));
    assertMentions(
        e,
        file
            + " (safetensors header) is not valid UTF-8: byte 3 (0xc0) starts a malformed"
            + " sequence");
  }

  @Test
  void getOfAnAbsentTensorNamesFileAndTensor() {
    Path file =
        new TestSafetensors()
            .f32("present", new float[] {1}, 1)
            .write(tmp.resolve("g.safetensors"));
    SafetensorsFile f = SafetensorsFile.open(file, arena);
    var e = assertThrows(MissingTensorException.class, () -> f.get("absent"));
    assertMentions(e, file.toString(), "'absent'");
  }
}
