package dev.lorastream.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.engine.backends.Backends;
import dev.lorastream.engine.config.Proj;
import dev.lorastream.engine.io.NonFiniteWeightException;
import dev.lorastream.engine.lora.LoraAdapter;
import dev.lorastream.engine.model.LlamaModel;
import dev.lorastream.engine.model.LoadedModel;
import dev.lorastream.engine.model.ModelLoader;
import dev.lorastream.engine.ops.Ops;
import dev.lorastream.engine.sample.SamplingParams;
import dev.lorastream.engine.sched.Engine;
import dev.lorastream.engine.sched.EngineConfig;
import dev.lorastream.engine.sched.EngineError;
import dev.lorastream.engine.sched.FinishReason;
import dev.lorastream.engine.sched.GenerationRequest;
import dev.lorastream.engine.sched.GenerationResult;
import dev.lorastream.engine.tensor.DType;
import dev.lorastream.engine.testdata.AdapterGenerator;
import dev.lorastream.engine.testdata.ModelGenerator;
import dev.lorastream.engine.testdata.TestFiles;
import dev.lorastream.engine.testdata.TestFiles.Bad;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.NoSuchElementException;
import java.util.concurrent.CompletableFuture;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Weights holding NaN or an infinity are refused at load, in every dtype: an adapter's requests get
 * ADAPTER_INVALID naming the tensor and the first bad element while the engine serves the rest, and
 * a base model does not load at all.
 */
class EngineNonFiniteWeightsTest {
  /** lora_B of layer 1's down_proj in the tiny model: [hidden 64, r 8]. */
  static final String DOWN_B = "base_model.model.model.layers.1.mlp.down_proj.lora_B.weight";

  @TempDir static Path tmp;
  static Ops ops;
  static LoadedModel lm;
  static Path modelDir;

  @BeforeAll
  static void setUp() throws Exception {
    modelDir = tmp.resolve("m");
    ModelGenerator.make("tiny", ModelGenerator.Options.defaults(), modelDir);
    ops = Backends.create("cpu");
    lm = ModelLoader.load(modelDir, ops);
  }

  @AfterAll
  static void tearDown() {
    lm.close();
  }

  static Stream<Arguments> dtypesAndBadValues() {
    return Stream.of(DType.F32, DType.F16, DType.BF16) // the dtypes a file holds
        .flatMap(d -> Stream.of(Bad.values()).map(b -> Arguments.of(d, b)));
  }

  /** adapter-0000 (rank 8, all targets, in {@code dtype}) under {@code root}; returns its dir. */
  private static Path adapter(Path root, DType dtype) throws Exception {
    AdapterGenerator.Options o =
        new AdapterGenerator.Options(
            new int[] {8}, AdapterGenerator.ORDER, 0, null, dtype, false, 0.2);
    AdapterGenerator.make(modelDir, 1, o, root);
    return root.resolve(AdapterGenerator.adapterName(0));
  }

  private static Engine engine(Path adapters) {
    LlamaModel m = new LlamaModel(lm.config(), lm.weights(), ops, LlamaModel.LoraKernel.SGMV);
    EngineConfig ec =
        EngineConfig.defaults()
            .withKvBlocks(64)
            .withLora(4, 16, EnumSet.allOf(Proj.class), LlamaModel.LoraKernel.SGMV);
    return new Engine(
        m,
        ec,
        id -> {
          Path d = adapters.resolve(id);
          if (!Files.isDirectory(d)) {
            throw new NoSuchElementException("no adapter '" + id + "'");
          }
          return LoraAdapter.load(d, lm.config(), 64);
        },
        null);
  }

  @ParameterizedTest(name = "{0} {1}")
  @MethodSource("dtypesAndBadValues")
  void anAdapterHoldingANonFiniteValueIsInvalidAndOtherRequestsAreServed(DType dtype, Bad bad)
      throws Exception {
    Path good = tmp.resolve("good-" + dtype + "-" + bad);
    Path poisoned = tmp.resolve("bad-" + dtype + "-" + bad);
    adapter(good, dtype);
    Path dir = adapter(poisoned, dtype);
    Path file = dir.resolve(LoraAdapter.WEIGHTS_FILE);
    TestFiles.poke(file, DOWN_B, 300, Bad.NAN); // a later bad element: the first one is named
    TestFiles.poke(file, DOWN_B, 131, bad);
    String adapterId = AdapterGenerator.adapterName(0);
    try (Engine e = engine(poisoned)) {
      CompletableFuture<GenerationResult> refused =
          e.submit(new GenerationRequest("bad", new int[] {1, 5, 9}, adapterId, greedy(4)));
      e.runUntilIdle();
      GenerationResult r = refused.join();
      assertEquals(EngineError.ADAPTER_INVALID, r.errorCode());
      assertEquals(FinishReason.ERROR, r.finishReason());
      assertEquals(
          file
              + ": tensor '"
              + DOWN_B
              + "' ("
              + dtype
              + "[64, 8]) holds "
              + bad.label()
              + " at index 131 (element [16, 3]); adapter weights must be finite: the adapter is"
              + " corrupt or its training diverged; retrain it or restore a good checkpoint",
          r.errorMessage());
      var base = e.submit(new GenerationRequest("base", new int[] {1, 5, 9}, null, greedy(4)));
      e.runUntilIdle();
      assertTrue(base.join().ok(), String.valueOf(base.join().errorMessage()));
      assertEquals(4, base.join().tokens().length);
    }
    try (Engine e = engine(good)) { // the same adapter before the damage serves normally
      var served = e.submit(new GenerationRequest("ok", new int[] {1, 5, 9}, adapterId, greedy(4)));
      e.runUntilIdle();
      assertTrue(served.join().ok(), String.valueOf(served.join().errorMessage()));
      assertNull(served.join().errorCode());
      assertEquals(4, served.join().tokens().length);
    }
  }

  @ParameterizedTest(name = "{0} {1}")
  @MethodSource("dtypesAndBadValues")
  void aBaseModelHoldingANonFiniteValueDoesNotLoad(DType dtype, Bad bad) throws Exception {
    Path dir = tmp.resolve("model-" + dtype + "-" + bad);
    ModelGenerator.make("tiny", ModelGenerator.Options.defaults().withDtype(dtype), dir);
    Path file = dir.resolve("model.safetensors");
    String up = "model.layers.1.mlp.up_proj.weight"; // [intermediate 172, hidden 64]
    TestFiles.poke(file, up, 1000, bad);
    var ex = assertThrows(NonFiniteWeightException.class, () -> ModelLoader.load(dir, ops));
    assertEquals(
        file
            + ": tensor '"
            + up
            + "' ("
            + dtype
            + "[172, 64]) holds "
            + bad.label()
            + " at index 1000 (element [15, 40]); model weights must be finite: the checkpoint is"
            + " corrupt or overflowed when it was converted (e.g. to F16); re-download or"
            + " re-convert it",
        ex.getMessage());
  }

  private static SamplingParams greedy(int n) {
    return SamplingParams.greedy(n);
  }
}
