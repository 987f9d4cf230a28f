package dev.lorastream.engine.lora;

import static dev.lorastream.engine.lora.TestAdapters.TINY;
import static dev.lorastream.engine.lora.TestAdapters.config;
import static dev.lorastream.engine.lora.TestAdapters.factor;
import static dev.lorastream.engine.lora.TestAdapters.key;
import static dev.lorastream.engine.lora.TestAdapters.weights;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.lorastream.engine.config.Proj;
import dev.lorastream.engine.io.FileConfinement;
import dev.lorastream.engine.io.MissingTensorException;
import dev.lorastream.engine.io.ModelFormatException;
import dev.lorastream.engine.io.TensorShapeException;
import dev.lorastream.engine.io.TestSafetensors;
import dev.lorastream.engine.io.UnsupportedAdapterException;
import dev.lorastream.engine.tensor.DType;
import dev.lorastream.engine.testdata.TestFiles;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class LoraAdapterTest {

  private static final Set<Proj> QV = EnumSet.of(Proj.Q, Proj.V);
  private static final String QV_JSON = "[\"q_proj\", \"v_proj\"]";

  @TempDir Path tmp;

  private Path adapter(String name, String configJson, TestSafetensors w) {
    return TestAdapters.write(tmp.resolve(name), configJson, w);
  }

  private static void assertMentions(Throwable e, String... parts) {
    for (String p : parts) {
      assertTrue(e.getMessage().contains(p), "message lacks '" + p + "': " + e.getMessage());
    }
  }

  @ParameterizedTest
  @EnumSource(
      value = DType.class,
      names = {"F32", "F16", "BF16"}) // a file's dtypes
  void loadsEveryLayerAndTargetExactlyInEachDtype(DType dtype) {
    Path dir = adapter("tenant-a", config(2, 8, QV_JSON, ""), weights(TINY, 2, QV, dtype));

    LoraAdapter a = LoraAdapter.load(dir, TINY, 16);

    assertEquals("tenant-a", a.id());
    assertEquals(2, a.rank());
    assertEquals(4.0f, a.scale());
    assertEquals(QV, a.targets());
    for (int l = 0; l < 2; l++) {
      LoraWeights q = a.weights(l, Proj.Q);
      assertEquals(2, q.rank());
      assertEquals(8, q.in());
      assertEquals(8, q.out());
      assertArrayEquals(factor(l, Proj.Q, true, 16), q.a());
      assertArrayEquals(factor(l, Proj.Q, false, 16), q.b());
      LoraWeights v = a.weights(l, Proj.V);
      assertEquals(4, v.out());
      assertArrayEquals(factor(l, Proj.V, false, 8), v.b());
      assertNull(a.weights(l, Proj.K));
    }
    assertEquals(4L * 2 * (16 + 16 + 16 + 8), a.bytes()); // 2 layers × (qA + qB + vA + vB) floats
  }

  @Test
  void acceptsPeftKeysWithTheDefaultAdapterName() {
    TestSafetensors st = new TestSafetensors();
    for (int l = 0; l < 2; l++) {
      st.f32(
          key(l, Proj.O, "A").replace(".weight", ".default.weight"),
          factor(l, Proj.O, true, 8),
          1,
          8);
      st.f32(
          key(l, Proj.O, "B").replace(".weight", ".default.weight"),
          factor(l, Proj.O, false, 8),
          8,
          1);
    }
    LoraAdapter a =
        LoraAdapter.load(adapter("named", config(1, 1, "[\"o_proj\"]", ""), st), TINY, 16);
    assertArrayEquals(factor(1, Proj.O, false, 8), a.weights(1, Proj.O).b());
  }

  @Test
  void fanInFanOutTransposedFactorsAreTransposedOnLoad() {
    // A stored [in=8, r=2], B stored [r=2, out=4] for k_proj.
    TestSafetensors st = new TestSafetensors();
    float[] aT = new float[16]; // [8, 2]: aT[i][k] = 10k + i
    float[] bT = new float[8]; // [2, 4]: bT[k][o] = 100k + o
    for (int i = 0; i < 8; i++) {
      for (int k = 0; k < 2; k++) {
        aT[i * 2 + k] = 10 * k + i;
      }
    }
    for (int k = 0; k < 2; k++) {
      for (int o = 0; o < 4; o++) {
        bT[k * 4 + o] = 100 * k + o;
      }
    }
    for (int l = 0; l < 2; l++) {
      st.f32(key(l, Proj.K, "A"), aT, 8, 2).f32(key(l, Proj.K, "B"), bT, 2, 4);
    }
    Path dir = adapter("fan", config(2, 2, "[\"k_proj\"]", "\"fan_in_fan_out\": true"), st);

    LoraWeights w = LoraAdapter.load(dir, TINY, 16).weights(0, Proj.K);

    assertArrayEquals(
        new float[] {0, 1, 2, 3, 4, 5, 6, 7, 10, 11, 12, 13, 14, 15, 16, 17}, w.a()); // [r, in]
    assertArrayEquals(new float[] {0, 100, 1, 101, 2, 102, 3, 103}, w.b()); // [out, r]
  }

  @Test
  void rankAboveTheMaximumIsRefusedNamingAdapterRankLimitAndKey() {
    Path dir = adapter("big-rank", config(32, 32, QV_JSON, ""), null);
    var e = assertThrows(UnsupportedAdapterException.class, () -> LoraAdapter.load(dir, TINY, 16));
    assertMentions(
        e, "'big-rank'", "adapter_config.json", "r=32", "maxRank=16", "lorastream.lora.max-rank");
  }

  @Test
  void targetModuleThatDoesNotExistIsRefusedBeforeReadingWeights() {
    Path dir = adapter("typo", config(2, 2, "[\"q_proj\", \"query_key_value\"]", ""), null);
    var e = assertThrows(UnsupportedAdapterException.class, () -> LoraAdapter.load(dir, TINY, 16));
    assertMentions(
        e,
        dir.resolve("adapter_config.json").toString(),
        "'query_key_value' does not exist",
        "gate_proj");
  }

  @Test
  void extraKeyForALayerThatDoesNotExistIsRefusedNamingIt() {
    TestSafetensors st =
        weights(TINY, 2, QV, DType.F32).f32(key(2, Proj.Q, "A"), new float[16], 2, 8);
    Path dir = adapter("deep", config(2, 2, QV_JSON, ""), st);
    var e = assertThrows(ModelFormatException.class, () -> LoraAdapter.load(dir, TINY, 16));
    assertMentions(
        e,
        dir.resolve("adapter_model.safetensors").toString(),
        "'" + key(2, Proj.Q, "A") + "'",
        "layer 2 does not exist",
        "2 layers");
  }

  @Test
  void extraKeyForAnUntargetedModuleIsRefusedNamingIt() {
    TestSafetensors st =
        weights(TINY, 2, QV, DType.F32).f32(key(0, Proj.UP, "A"), new float[16], 2, 8);
    Path dir = adapter("extra", config(2, 2, QV_JSON, ""), st);
    var e = assertThrows(ModelFormatException.class, () -> LoraAdapter.load(dir, TINY, 16));
    assertMentions(e, "'" + key(0, Proj.UP, "A") + "'", "up_proj is not in target_modules");
  }

  @Test
  void missingKeyIsRefusedNamingFileAndTensor() {
    String json = config(2, 2, "[\"q_proj\", \"v_proj\", \"down_proj\"]", "");
    Path dir = adapter("partial", json, weights(TINY, 2, QV, DType.F32));
    var e = assertThrows(MissingTensorException.class, () -> LoraAdapter.load(dir, TINY, 16));
    assertMentions(
        e,
        dir.resolve("adapter_model.safetensors").toString(),
        "'" + key(0, Proj.DOWN, "A") + "'",
        "[2, 12]");
  }

  @Test
  void factorOfTheWrongShapeIsRefusedNamingFileTensorAndShapes() {
    TestSafetensors st = weights(TINY, 2, EnumSet.of(Proj.Q), DType.F32);
    st.f32(key(1, Proj.Q, "B"), new float[24], 8, 3); // r=3 where the config says 2
    Path dir = adapter("shape", config(2, 2, "[\"q_proj\"]", ""), st);
    var e = assertThrows(TensorShapeException.class, () -> LoraAdapter.load(dir, TINY, 16));
    assertMentions(
        e,
        dir.resolve("adapter_model.safetensors").toString(),
        "'" + key(1, Proj.Q, "B") + "'",
        "has shape [8, 3] but [8, 2] was expected");
  }

  @Test
  void missingWeightsFileNamesTheExpectedPath() {
    Path dir = adapter("no-weights", config(2, 2, QV_JSON, ""), null);
    var e = assertThrows(ModelFormatException.class, () -> LoraAdapter.load(dir, TINY, 16));
    assertMentions(e, dir.resolve("adapter_model.safetensors").toString(), "not found");
  }

  @Test
  void aDirectoryInPlaceOfTheWeightsIsRefusedAsNotARegularFile() throws Exception {
    Path dir = adapter("dir-weights", config(2, 2, QV_JSON, ""), null);
    Path file = Files.createDirectory(dir.resolve("adapter_model.safetensors"));
    var e = assertThrows(ModelFormatException.class, () -> LoraAdapter.load(dir, TINY, 16));
    assertEquals(
        file + " is a directory, not a regular file; expected a safetensors file at that path",
        e.getMessage());
  }

  @Test
  @Timeout(value = 10, threadMode = Timeout.ThreadMode.SEPARATE_THREAD) // a FIFO blocks a reader
  void aFifoInPlaceOfTheWeightsIsRefusedWithoutBlocking() throws Exception {
    Path dir = adapter("fifo-weights", config(2, 2, QV_JSON, ""), null);
    Path fifo = dir.resolve("adapter_model.safetensors");
    assumeTrue(TestFiles.mkfifo(fifo), "mkfifo is not available");
    var e = assertThrows(ModelFormatException.class, () -> LoraAdapter.load(dir, TINY, 16));
    assertEquals(
        fifo
            + " is a FIFO (named pipe), not a regular file; expected a safetensors file at that"
            + " path",
        e.getMessage());
  }

  @Test
  @Timeout(value = 10, threadMode = Timeout.ThreadMode.SEPARATE_THREAD) // a FIFO blocks a reader
  void aFifoInPlaceOfTheConfigIsRefusedWithoutBlocking() throws Exception {
    Path dir = Files.createDirectories(tmp.resolve("fifo-config"));
    Path fifo = dir.resolve("adapter_config.json");
    assumeTrue(TestFiles.mkfifo(fifo), "mkfifo is not available");
    var e = assertThrows(ModelFormatException.class, () -> LoraAdapter.load(dir, TINY, 16));
    assertEquals(
        fifo
            + " is a FIFO (named pipe), not a regular file; expected the PEFT adapter config of"
            + " the adapter in "
            + dir,
        e.getMessage());
  }

  @Test
  void weightsLinkedFromOutsideTheRootsAreRefused() throws Exception {
    Path real = tmp.toRealPath();
    Path elsewhere =
        adapter("elsewhere", config(2, 2, QV_JSON, ""), weights(TINY, 2, QV, DType.F32));
    Path root = Files.createDirectories(real.resolve("root"));
    Path dir = adapter("root/linked", config(2, 2, QV_JSON, ""), null);
    Path link =
        Files.createSymbolicLink(
            dir.resolve("adapter_model.safetensors"),
            elsewhere.resolve("adapter_model.safetensors"));
    FileConfinement files = FileConfinement.within(List.of(root), "roots");
    assertEquals(2, LoraAdapter.load(dir, TINY, 16).rank()); // unconfined, the link is followed
    var e = assertThrows(ModelFormatException.class, () -> LoraAdapter.load(dir, TINY, 16, files));
    assertEquals(
        link
            + " resolves to "
            + real.resolve("elsewhere/adapter_model.safetensors")
            + " (through a symbolic link), which is outside the allowed roots ["
            + root
            + "] (roots); files are read only from inside them",
        e.getMessage());
  }

  @Test
  void layerOutOfRangeNamesAdapterAndLayer() {
    Path dir = adapter("ok", config(2, 2, QV_JSON, ""), weights(TINY, 2, QV, DType.F32));
    LoraAdapter a = LoraAdapter.load(dir, TINY, 2);
    var e = assertThrows(IndexOutOfBoundsException.class, () -> a.weights(2, Proj.Q));
    assertMentions(e, "'ok'", "layer 2 out of range [0, 2)");
  }
}
