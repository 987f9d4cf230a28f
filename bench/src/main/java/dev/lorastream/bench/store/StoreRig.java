package dev.lorastream.bench.store;

import dev.lorastream.engine.config.ModelConfig;
import dev.lorastream.engine.config.Proj;
import dev.lorastream.engine.lora.LoraAdapter;
import dev.lorastream.engine.model.LlamaModel;
import dev.lorastream.engine.ops.Ops;
import dev.lorastream.engine.sample.SamplingParams;
import dev.lorastream.engine.sched.Engine;
import dev.lorastream.engine.sched.EngineConfig;
import dev.lorastream.engine.sched.GenerationRequest;
import dev.lorastream.engine.testdata.AdapterGenerator;
import java.nio.file.Path;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.locks.LockSupport;

/**
 * What every figure of {@code bench adapters} runs on: one loaded model (EOS disabled, so greedy
 * requests generate exactly {@code maxTokens}), the generated adapters (adapter {@code i} has rank
 * {@link #RANKS}{@code [i % 4]}), and the engine configs of the "cold" store (host budget for H
 * adapters, pool room for P adapters of rank 16) and of the all-resident one.
 *
 * @param adapters the folder of {@code adapter-0000 ...}
 * @param count N, the adapters on disk
 * @param meanAdapterBytes mean {@link LoraAdapter#bytes} over the four ranks (host budget unit)
 */
record StoreRig(
    Ops ops,
    ModelConfig cfg,
    LlamaModel model,
    Path adapters,
    int count,
    Set<Proj> targets,
    long meanAdapterBytes,
    int hostAdapters,
    int poolRank16) {

  /** Ranks cycled over the generated adapters. */
  static final int[] RANKS = {8, 16, 32, 64};

  /** The pool's largest rank: {@code max-loras × MAX_RANK = P × 16} rows. */
  static final int MAX_RANK = 64;

  /** Sequences per step at most in every engine of the benchmark. */
  static final int MAX_SEQS = 32;

  static String id(int i) {
    return AdapterGenerator.adapterName(i);
  }

  static int rankOf(int i) {
    return RANKS[i % RANKS.length];
  }

  LoraAdapter load(String id) {
    return LoraAdapter.load(adapters.resolve(id), cfg, MAX_RANK);
  }

  /** {@code max-loras} of the cold pool: P adapters of rank 16 in rows of rank 64. */
  int coldMaxLoras() {
    return poolRank16 * 16 / MAX_RANK;
  }

  /** Host budget for H adapters of mean size, pool room for P of rank 16. */
  EngineConfig cold() {
    return base(coldMaxLoras(), (long) hostAdapters * meanAdapterBytes);
  }

  /** Room for {@code adapters} of rank 64 in the pool and all N in host memory. */
  EngineConfig resident(int adapters) {
    return base(Math.max(1, adapters), Math.max(1, (long) count * meanAdapterBytes * 2));
  }

  private EngineConfig base(int maxLoras, long hostBytes) {
    EngineConfig d = EngineConfig.defaults();
    return d.withKvBlocks(2048)
        .withStep(256, MAX_SEQS)
        .withLora(maxLoras, MAX_RANK, targets, d.loraKernel())
        .withHostAdapters(hostBytes, d.adapterFailureTtlMs());
  }

  Engine engine(EngineConfig ec) {
    return new Engine(model, ec, this::load, null);
  }

  /** A request of random prompt tokens (drawn from {@code rnd}), greedy, {@code maxTokens} long. */
  GenerationRequest request(
      String id,
      int promptLen,
      int maxTokens,
      String adapter,
      String tenant,
      SplittableRandom rnd) {
    int[] prompt = new int[promptLen];
    for (int i = 0; i < promptLen; i++) {
      prompt[i] = rnd.nextInt(cfg.vocabSize());
    }
    return new GenerationRequest(
        id, prompt, adapter, SamplingParams.greedy(maxTokens), 0, 0, tenant);
  }

  /** Steps until idle; parks 50 µs when a step finds nothing to run (adapters loading). */
  static void drive(Engine e) {
    while (!e.idle()) {
      if (!e.step()) {
        LockSupport.parkNanos(50_000);
      }
    }
  }
}
