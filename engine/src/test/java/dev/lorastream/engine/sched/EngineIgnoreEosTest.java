package dev.lorastream.engine.sched;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.lorastream.engine.backends.Backends;
import dev.lorastream.engine.config.Proj;
import dev.lorastream.engine.model.LlamaModel;
import dev.lorastream.engine.model.LoadedModel;
import dev.lorastream.engine.model.ModelLoader;
import dev.lorastream.engine.ops.Ops;
import dev.lorastream.engine.sample.SamplingParams;
import dev.lorastream.engine.testdata.ModelGenerator;
import dev.lorastream.engine.testdata.TokenizerJson;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code ignoreEos}: the tiny model's config is given, as its end-of-sequence, a token its greedy
 * output has at a known place; a request ends there with STOP by default and goes on with the same
 * tokens to its length when it ignores end-of-sequence. A stop token id still ends it.
 */
class EngineIgnoreEosTest {
  static final int[] PROMPT = {5, 17, 42, 9};
  static final int N = 40;

  @TempDir Path tmp;

  private static GenerationResult generate(Path model, SamplingParams p) throws Exception {
    Ops ops = Backends.create("cpu");
    try (LoadedModel lm = ModelLoader.load(model, ops)) {
      EngineConfig ec =
          EngineConfig.defaults()
              .withKvBlocks(8)
              .withLora(1, 8, EnumSet.noneOf(Proj.class), LlamaModel.LoraKernel.SGMV);
      LlamaModel m = new LlamaModel(lm.config(), lm.weights(), ops, ec.loraKernel());
      try (Engine e =
          new Engine(
              m,
              ec,
              id -> {
                throw new AssertionError(id);
              },
              null)) {
        CompletableFuture<GenerationResult> f =
            e.submit(new GenerationRequest("r", PROMPT, null, p));
        e.runUntilIdle();
        return f.join();
      }
    }
  }

  private static SamplingParams greedy(boolean ignoreEos, List<Integer> stopIds) {
    return new SamplingParams(0f, 0, 1f, 0, N, stopIds, List.of(), ignoreEos);
  }

  @Test
  void endOfSequenceEndsARequestUnlessItIsIgnoredAndAStopIdStillEndsIt() throws Exception {
    Path model = tmp.resolve("m");
    ModelGenerator.write(ModelGenerator.preset("tiny"), 7, 1, TokenizerJson.DEFAULT_MERGES, model);
    GenerationResult free = generate(model, greedy(false, List.of()));
    assertEquals(
        FinishReason.LENGTH, free.finishReason(), "the model's own EOS came: pick another");
    int[] tokens = free.tokens();
    int eos = tokens[N / 2];
    int first = 0;
    while (tokens[first] != eos) {
      first++;
    }
    // that token is now the model's end-of-sequence
    ObjectMapper json = new ObjectMapper();
    Path config = model.resolve("config.json");
    ObjectNode c = (ObjectNode) json.readTree(config.toFile());
    c.put("eos_token_id", eos);
    Files.writeString(config, json.writeValueAsString(c));

    GenerationResult stopped = generate(model, greedy(false, List.of()));
    assertEquals(FinishReason.STOP, stopped.finishReason());
    assertArrayEquals(Arrays.copyOf(tokens, first), stopped.tokens());

    GenerationResult ignored = generate(model, greedy(true, List.of()));
    assertEquals(FinishReason.LENGTH, ignored.finishReason());
    assertArrayEquals(tokens, ignored.tokens());

    GenerationResult byId = generate(model, greedy(true, List.of(eos)));
    assertEquals(FinishReason.STOP, byId.finishReason());
    assertArrayEquals(Arrays.copyOf(tokens, first), byId.tokens());
  }
}
