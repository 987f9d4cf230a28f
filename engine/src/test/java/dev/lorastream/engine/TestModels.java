package dev.lorastream.engine;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.engine.config.Proj;
import dev.lorastream.engine.lora.LoraAdapter;
import dev.lorastream.engine.model.LlamaModel;
import dev.lorastream.engine.model.LoadedModel;
import dev.lorastream.engine.ops.Ops;
import dev.lorastream.engine.sample.SamplingParams;
import dev.lorastream.engine.sched.Engine;
import dev.lorastream.engine.sched.EngineConfig;
import dev.lorastream.engine.sched.GenerationRequest;
import dev.lorastream.engine.sched.GenerationResult;
import dev.lorastream.engine.tensor.DType;
import dev.lorastream.engine.testdata.AdapterGenerator;
import dev.lorastream.engine.testdata.ModelGenerator;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;

/** Generated tiny models, adapters, prompts and engines shared by the engine's end-to-end tests. */
final class TestModels {
  static final int ADAPTERS = 6;

  private TestModels() {}

  /**
   * The tiny model in {@code dtype} under {@code tmp}, seed 3, changed by {@code extra}
   * (make-model's --arch, --shards, ...).
   */
  static Path tiny(Path tmp, String dtype, String... extra) throws Exception {
    Path dir = tmp.resolve("model-" + dtype + String.join("", extra));
    if (!dir.resolve("config.json").toFile().exists()) {
      ModelGenerator.Options o =
          ModelGenerator.Options.defaults().withSeed(3).withDtype(DType.parse(dtype));
      List<String> args = List.of(extra);
      ModelGenerator.Arch arch = o.arch();
      int shards = o.shards();
      for (int i = 0; i < args.size(); i++) {
        switch (args.get(i)) {
          case "--arch" -> arch = ModelGenerator.Arch.valueOf(args.get(++i));
          case "--shards" -> shards = Integer.parseInt(args.get(++i));
          case "--rope-scaling", "--tie-embeddings" -> {
            if (args.get(i).equals("--rope-scaling")) {
              i++;
            }
          }
          default -> throw new IllegalArgumentException("model option " + args.get(i));
        }
      }
      o =
          new ModelGenerator.Options(
              o.seed(),
              o.dtype(),
              arch,
              shards,
              null,
              args.contains("--tie-embeddings"),
              args.contains("llama3"),
              o.merges());
      ModelGenerator.make("tiny", o, dir);
      AdapterGenerator.make(
          dir,
          ADAPTERS,
          AdapterGenerator.Options.defaults().withRanks(4, 8, 16).withSeed(4),
          dir.resolve("adapters"));
    }
    return dir;
  }

  static Path adapter(Path model, int i) {
    return model.resolve("adapters").resolve(AdapterGenerator.adapterName(i));
  }

  static int[] prompt(int seed, int len) {
    SplittableRandom r = new SplittableRandom(seed);
    int[] p = new int[len];
    p[0] = 1; // <s>
    for (int i = 1; i < len; i++) {
      p[i] = 4 + r.nextInt(500);
    }
    return p;
  }

  static Engine engine(LoadedModel lm, Ops ops, EngineConfig ec) {
    LlamaModel m = new LlamaModel(lm.config(), lm.weights(), ops, ec.loraKernel());
    return new Engine(m, ec, id -> LoraAdapter.load(Path.of(id), lm.config(), ec.maxRank()), null);
  }

  static EngineConfig config() {
    return EngineConfig.defaults()
        .withKvBlocks(256)
        .withStep(64, 32)
        .withLora(8, 16, EnumSet.allOf(Proj.class), LlamaModel.LoraKernel.SGMV);
  }

  static List<GenerationResult> generate(Engine e, List<GenerationRequest> reqs) {
    List<CompletableFuture<GenerationResult>> fs = new ArrayList<>();
    for (GenerationRequest r : reqs) {
      fs.add(e.submit(r));
    }
    e.runUntilIdle();
    List<GenerationResult> out = new ArrayList<>();
    for (var f : fs) {
      GenerationResult r = f.join();
      assertTrue(r.ok(), r.id() + ": " + r.errorCode() + " " + r.errorMessage());
      out.add(r);
    }
    return out;
  }

  static List<GenerationRequest> mixedRequests(Path dir, SamplingParams params) {
    List<GenerationRequest> reqs = new ArrayList<>();
    int[] adapterOf = {0, 1, -1, 2, 3, 4, 5, -1, 2};
    for (int s = 0; s < adapterOf.length; s++) {
      String a = adapterOf[s] < 0 ? null : adapter(dir, adapterOf[s]).toString();
      reqs.add(new GenerationRequest("r" + s, prompt(100 + s, 3 + 5 * s % 23), a, params));
    }
    return reqs;
  }
}
