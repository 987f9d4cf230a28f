package dev.lorastream.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
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
import dev.lorastream.tokenizer.HfTokenizer;
import dev.lorastream.tools.BackendOption;
import dev.lorastream.tools.ModelDirOption;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code lorastream generate}: one prompt through the engine, optionally through one adapter. */
@Command(
    name = "generate",
    mixinStandardHelpOptions = true,
    description = "Generate a completion for one prompt on the local engine.")
public final class GenerateCommand implements Callable<Integer> {
  @Mixin ModelDirOption modelDir;

  @Option(names = "--adapter", description = "PEFT adapter directory")
  Path adapter;

  @Option(names = "--prompt", required = true)
  String prompt;

  @Option(names = "--max-tokens", defaultValue = "32")
  int maxTokens;

  @Option(names = "--temperature", defaultValue = "0", description = "0 = greedy")
  float temperature;

  @Option(names = "--top-k", defaultValue = "0")
  int topK;

  @Option(names = "--top-p", defaultValue = "1")
  float topP;

  @Option(names = "--seed", defaultValue = "0")
  long seed;

  @Option(names = "--stop", description = "stop string (repeatable)")
  List<String> stop = List.of();

  @Mixin BackendOption backend;

  @Option(names = "--json", description = "print one JSON object: prompt_tokens, tokens, text")
  boolean json;

  @Override
  public Integer call() throws Exception {
    SamplingParams params =
        new SamplingParams(temperature, topK, topP, seed, maxTokens, List.of(), stop);
    Path model = modelDir.model();
    try (Ops ops = backend.create();
        LoadedModel lm = ModelLoader.load(model, ops);
        HfTokenizer tok = HfTokenizer.load(model)) {
      EngineConfig ec = EngineConfig.defaults();
      LlamaModel m = new LlamaModel(lm.config(), lm.weights(), ops, ec.loraKernel());
      try (Engine engine =
          new Engine(
              m, ec, id -> LoraAdapter.load(Path.of(id), lm.config(), ec.maxRank()), tok::decode)) {
        int[] ids = tok.encode(prompt);
        String adapterId = adapter == null ? null : adapter.toString();
        long t0 = System.nanoTime();
        var f = engine.submit(new GenerationRequest("cli", ids, adapterId, params));
        engine.runUntilIdle();
        GenerationResult r = f.join();
        double secs = (System.nanoTime() - t0) / 1e9;
        if (!r.ok()) {
          System.err.println("error " + r.errorCode() + ": " + r.errorMessage());
          return 1;
        }
        double tps = r.tokens().length / secs;
        if (json) {
          ObjectMapper om = new ObjectMapper();
          ObjectNode o = om.createObjectNode();
          o.putPOJO("prompt_tokens", ids);
          o.putPOJO("tokens", r.tokens());
          o.put("text", r.text());
          o.put("finish_reason", r.finishReason().wireName());
          o.put("tokens_per_second", tps);
          System.out.println(om.writeValueAsString(o));
        } else {
          System.out.println(prompt + r.text());
          System.err.printf(
              "%d prompt tokens, %d generated in %.2f s: %.1f tok/s (%s, %s)%n",
              ids.length, r.tokens().length, secs, tps, r.finishReason().wireName(), ops.name());
        }
        return 0;
      }
    }
  }
}
