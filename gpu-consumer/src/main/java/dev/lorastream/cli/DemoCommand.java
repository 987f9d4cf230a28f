package dev.lorastream.cli;

import dev.lorastream.engine.lora.LoraAdapter;
import dev.lorastream.engine.model.LlamaModel;
import dev.lorastream.engine.model.LoadedModel;
import dev.lorastream.engine.model.ModelLoader;
import dev.lorastream.engine.ops.Backends;
import dev.lorastream.engine.ops.Ops;
import dev.lorastream.engine.sample.SamplingParams;
import dev.lorastream.engine.sched.Engine;
import dev.lorastream.engine.sched.EngineConfig;
import dev.lorastream.engine.sched.GenerationRequest;
import dev.lorastream.engine.sched.GenerationResult;
import dev.lorastream.engine.tokenizer.HfTokenizer;
import dev.lorastream.tools.MakeAdapters;
import dev.lorastream.tools.MakeModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code lorastream demo}: the engine on the embedded defaults: makes the tiny model and a set of adapters,
 * serves a mixed-adapter workload through continuous batching, and prints a table of replies.
 */
@Command(
    name = "demo",
    mixinStandardHelpOptions = true,
    description = "Serve a mixed-adapter workload on the tiny model and print the replies.")
public final class DemoCommand implements Callable<Integer> {
  private static final String[] PROMPTS = {
    "The licence grants", "def parse(", "#!/bin/sh", "Once upon a time", "SELECT name FROM",
    "Kafka streams", "import numpy", "Dear customer,"
  };

  @Option(names = "--work", defaultValue = "build/demo", description = "folder for the model and adapters")
  Path work;

  @Option(names = "--requests", defaultValue = "100")
  int requests;

  @Option(names = "--adapters", defaultValue = "20")
  int adapters;

  @Option(names = "--max-tokens", defaultValue = "16")
  int maxTokens;

  @Option(names = "--backend", defaultValue = "${sys:lorastream.backend:-auto}")
  String backend;

  @Override
  public Integer call() throws Exception {
    Path modelDir = work.resolve("model");
    Path adaptersDir = work.resolve("adapters");
    if (!Files.exists(modelDir.resolve("config.json"))) {
      run(new MakeModel(), "--preset", "tiny", "--out", modelDir.toString(), "--seed", "1");
    }
    if (!Files.exists(adaptersDir.resolve(MakeAdapters.adapterName(adapters - 1)))) {
      run(new MakeAdapters(), "--model", modelDir.toString(), "--count", String.valueOf(adapters),
          "--ranks", "4,8,16", "--out", adaptersDir.toString(), "--seed", "2");
    }
    try (Ops ops = Backends.create(backend);
        LoadedModel lm = ModelLoader.load(modelDir, ops);
        HfTokenizer tok = HfTokenizer.load(modelDir)) {
      EngineConfig ec = EngineConfig.defaults();
      LlamaModel model = new LlamaModel(lm.config(), lm.weights(), ops, ec.loraKernel());
      try (Engine engine =
          new Engine(model, ec, id -> loadAdapter(adaptersDir, id, lm, ec), tok::decode)) {
        List<String> adapterOf = new ArrayList<>();
        List<String> promptOf = new ArrayList<>();
        List<CompletableFuture<GenerationResult>> futures = new ArrayList<>();
        long t0 = System.nanoTime();
        for (int i = 0; i < requests; i++) {
          // every fifth request runs on the base model; one asks for an adapter that does not exist
          String adapter =
              i == requests / 2 ? "no-such-adapter" : i % 5 == 4 ? null : MakeAdapters.adapterName(i % adapters);
          String prompt = PROMPTS[i % PROMPTS.length];
          SamplingParams p = new SamplingParams(0.8f, 40, 0.95f, i, maxTokens, List.of(), List.of());
          adapterOf.add(adapter);
          promptOf.add(prompt);
          futures.add(engine.submit(new GenerationRequest("req-" + i, tok.encode(prompt), adapter, p)));
        }
        engine.runUntilIdle();
        double secs = (System.nanoTime() - t0) / 1e9;
        System.out.printf("%-8s %-16s %-18s %8s  %s%n", "request", "adapter", "prompt", "ms", "completion");
        int unexpected = 0;
        int replies = 0;
        long tokens = 0;
        long[] latencies = new long[requests];
        for (int i = 0; i < requests; i++) {
          GenerationResult r = futures.get(i).join();
          replies++;
          latencies[i] = r.totalNanos() / 1_000_000;
          tokens += r.tokens().length;
          String shown = r.ok() ? r.text().replace('\n', ' ') : r.errorCode() + ": " + r.errorMessage();
          boolean expected = r.ok() || "no-such-adapter".equals(adapterOf.get(i));
          if (!expected) {
            unexpected++;
          }
          System.out.printf(
              "%-8s %-16s %-18s %8d  %s%n",
              r.id(),
              adapterOf.get(i) == null ? "(base)" : adapterOf.get(i),
              promptOf.get(i),
              latencies[i],
              shown.length() > 60 ? shown.substring(0, 60) : shown);
        }
        Arrays.sort(latencies);
        System.out.printf(
            "demo: %d requests, %d replies, %d unexpected errors, %.1f tok/s, p50 %d ms%n",
            requests, replies, unexpected, tokens / secs, latencies[requests / 2]);
        return unexpected == 0 ? 0 : 1;
      }
    }
  }

  private static LoraAdapter loadAdapter(Path root, String id, LoadedModel lm, EngineConfig ec) {
    Path dir = root.resolve(id).normalize();
    if (!dir.startsWith(root) || !Files.isDirectory(dir)) {
      throw new NoSuchElementException("no adapter '" + id + "' under " + root);
    }
    return LoraAdapter.load(dir, lm.config(), ec.maxRank());
  }

  private static void run(Callable<Integer> cmd, String... args) {
    int rc = new CommandLine(cmd).execute(args);
    if (rc != 0) {
      throw new IllegalStateException("failed: " + String.join(" ", args));
    }
  }
}
