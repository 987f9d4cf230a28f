package dev.lorastream.engine.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TensorStoreTest {

  @TempDir Path tmp;

  private static void assertMentions(Throwable e, String... parts) {
    for (String p : parts) {
      assertTrue(e.getMessage().contains(p), "message lacks '" + p + "': " + e.getMessage());
    }
  }

  private static final String INDEX =
      """
      {"metadata": {"total_size": 40},
       "weight_map": {"a.weight": "model-00001-of-00002.safetensors",
                      "b.weight": "model-00002-of-00002.safetensors",
                      "c.weight": "model-00002-of-00002.safetensors"}}
      """;

  @Test
  void opensAShardedModelThroughItsIndex() throws Exception {
    new TestSafetensors()
        .f32("a.weight", new float[] {1, 2}, 2)
        .write(tmp.resolve("model-00001-of-00002.safetensors"));
    new TestSafetensors()
        .bf16("b.weight", new float[] {3, 4, 5, 6}, 2, 2)
        .f16("c.weight", new float[] {-1}, 1)
        .write(tmp.resolve("model-00002-of-00002.safetensors"));
    Files.writeString(tmp.resolve(TensorStore.INDEX_FILE), INDEX);

    try (TensorStore store = TensorStore.openModel(tmp)) {
      assertEquals(Set.of("a.weight", "b.weight", "c.weight"), store.names());
      assertArrayEquals(new float[] {1, 2}, store.require("a.weight", 2).toFloatArray());
      assertArrayEquals(new float[] {3, 4, 5, 6}, store.require("b.weight", 2, 2).toFloatArray());
      assertArrayEquals(new float[] {-1}, store.find("c.weight").orElseThrow().toFloatArray());
      assertEquals(tmp.resolve("model-00002-of-00002.safetensors"), store.fileOf("b.weight"));
      assertTrue(store.find("d.weight").isEmpty());
    }
  }

  @Test
  void indexNamingAMissingShardIsRefusedNamingShardAndTensor() throws Exception {
    new TestSafetensors()
        .f32("a.weight", new float[] {1, 2}, 2)
        .write(tmp.resolve("model-00001-of-00002.safetensors"));
    Files.writeString(tmp.resolve(TensorStore.INDEX_FILE), INDEX);

    var e = assertThrows(ModelFormatException.class, () -> TensorStore.openModel(tmp));
    assertMentions(e, "model-00002-of-00002.safetensors", "'b.weight'", "does not exist");
  }

  @Test
  void wrongShapeIsRefusedNamingFileTensorExpectedAndActual() {
    Path file =
        new TestSafetensors()
            .f32("model.norm.weight", new float[6], 2, 3)
            .write(tmp.resolve("model.safetensors"));
    try (TensorStore store = TensorStore.openModel(tmp)) {
      var e =
          assertThrows(TensorShapeException.class, () -> store.require("model.norm.weight", 3, 2));
      assertMentions(
          e, file.toString(), "'model.norm.weight'", "has shape [2, 3] but [3, 2] was expected");
    }
  }

  @Test
  void requireOfAnAbsentTensorNamesTheTensor() {
    Path file =
        new TestSafetensors()
            .f32("x", new float[] {1}, 1)
            .write(tmp.resolve("adapter_model.safetensors"));
    try (TensorStore store = TensorStore.openFile(file)) {
      var e =
          assertThrows(MissingTensorException.class, () -> store.require("lm_head.weight", 4, 2));
      assertMentions(e, file.toString(), "'lm_head.weight'", "[4, 2]");
    }
  }

  @Test
  void missingModelDirectorySaysWhatWasExpected() {
    Path dir = tmp.resolve("no-such-model");
    var e = assertThrows(ModelFormatException.class, () -> TensorStore.openModel(dir));
    assertMentions(
        e, dir.toString(), "does not exist", "model.safetensors", "model.safetensors.index.json");
  }

  @Test
  void directoryWithoutSafetensorsNamesWhatItFound() throws Exception {
    Files.write(tmp.resolve("pytorch_model.bin"), new byte[4]);
    var e = assertThrows(ModelFormatException.class, () -> TensorStore.openModel(tmp));
    assertMentions(
        e, "no weights in " + tmp, "model.safetensors", "[pytorch_model.bin]", "convert");
  }

  @Test
  void closedStoreRefusesReadsAndClosesTwiceQuietly() {
    Path file =
        new TestSafetensors().f32("x", new float[] {1}, 1).write(tmp.resolve("model.safetensors"));
    TensorStore store = TensorStore.openFile(file);
    store.close();
    store.close();
    assertThrows(IllegalStateException.class, () -> store.find("x"));
  }
}
