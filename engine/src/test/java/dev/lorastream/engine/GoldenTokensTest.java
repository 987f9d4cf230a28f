package dev.lorastream.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.engine.backends.Backends;
import dev.lorastream.engine.config.Proj;
import dev.lorastream.engine.lora.LoraAdapter;
import dev.lorastream.engine.model.LlamaModel;
import dev.lorastream.engine.model.LoadedModel;
import dev.lorastream.engine.model.ModelLoader;
import dev.lorastream.engine.ops.Ops;
import dev.lorastream.engine.sample.SamplingParams;
import dev.lorastream.engine.sched.Engine;
import dev.lorastream.engine.sched.EngineConfig;
import dev.lorastream.engine.sched.GenerationRequest;
import dev.lorastream.engine.sched.GenerationResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

/**
 * The golden test (llama2.c's habit): the committed demo model ({@code models/lorastream-demo}) at
 * temperature 0 produces exactly these tokens, for the base model and through the {@code python}
 * adapter, both rows in one batch on the CPU backend. The expected ids are those of the independent
 * PyTorch reference ({@code engine/src/test/python/llama_lora_ref.py --greedy 24}, float32) and of
 * this engine; any change to the forward pass, the LoRA path, the KV cache or greedy sampling that
 * moves a single token fails here, with no tolerance.
 */
class GoldenTokensTest {
  static final Path MODEL = Path.of("../models/lorastream-demo");

  /** "c" in the demo model's byte-level vocabulary (byte b is id b + 4), after BOS = 1. */
  static final int[] PROMPT = {1, 103};

  /** "ommit is not the commit " */
  static final int[] BASE = {
    115, 113, 113, 109, 120, 36, 109, 119, 36, 114, 115, 120, 36, 120, 108, 105, 36, 103, 115, 113,
    113, 109, 120, 36
  };

  /** "lass Context and a compi" */
  static final int[] PYTHON = {
    112, 101, 119, 119, 36, 71, 115, 114, 120, 105, 124, 120, 36, 101, 114, 104, 36, 101, 36, 103,
    115, 113, 116, 109
  };

  @Test
  void greedyTokensOfTheBaseModelAndThePythonAdapterAreExactlyTheGoldenOnes() throws Exception {
    assertTrue(
        Files.isRegularFile(MODEL.resolve("model.safetensors")),
        "the demo model is committed at " + MODEL);
    EngineConfig ec =
        EngineConfig.defaults()
            .withKvBlocks(64)
            .withLora(2, 16, EnumSet.allOf(Proj.class), LlamaModel.LoraKernel.SGMV);
    try (Ops ops = Backends.create("cpu");
        LoadedModel lm = ModelLoader.load(MODEL, ops)) {
      LlamaModel m = new LlamaModel(lm.config(), lm.weights(), ops, ec.loraKernel());
      try (Engine e =
          new Engine(
              m,
              ec,
              id -> LoraAdapter.load(MODEL.resolve("adapters").resolve(id), lm.config(), 16),
              null)) {
        SamplingParams greedy = SamplingParams.greedy(BASE.length);
        CompletableFuture<GenerationResult> base =
            e.submit(new GenerationRequest("base", PROMPT, null, greedy));
        CompletableFuture<GenerationResult> python =
            e.submit(new GenerationRequest("python", PROMPT, "python", greedy));
        e.runUntilIdle();
        assertArrayEquals(
            BASE, base.join().tokens(), "base: " + java.util.Arrays.toString(base.join().tokens()));
        assertArrayEquals(
            PYTHON,
            python.join().tokens(),
            "python: " + java.util.Arrays.toString(python.join().tokens()));
      }
    }
  }
}
