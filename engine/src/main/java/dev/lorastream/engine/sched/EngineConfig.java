package dev.lorastream.engine.sched;

import dev.lorastream.engine.config.Proj;
import dev.lorastream.engine.lora.LoraAdapter;
import dev.lorastream.engine.model.LlamaModel;
import dev.lorastream.engine.ops.Ops;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

/**
 * Engine knobs. Defaults come from system properties ({@code -Dlorastream.kv.blocks=...}) so that a
 * deployment can tune them without code.
 *
 * @param kvBlocks KV-cache pages
 * @param blockSize tokens per page
 * @param maxTokensPerStep token budget of one step (decode tokens plus prefill chunks)
 * @param maxSeqs running sequences at most
 * @param maxLoras adapter slots on the backend
 * @param maxRank largest adapter rank accepted (the adapter slots' size), at most {@link
 *     Ops#MAX_RANK}
 * @param loraTargets projections that get adapter slots
 * @param hostCacheBytes the most bytes of loaded adapters kept in host memory (LRU; {@link
 *     LoraAdapter#bytes}); default {@link #DEFAULT_HOST_CACHE_BYTES}
 * @param adapterFailureTtlMs how long a failed adapter load is remembered (its requests get the
 *     error) before a request tries again; 0 = only until the requests waiting for it are answered
 * @param loraKernel SGMV or BGMV
 */
public record EngineConfig(
    int kvBlocks,
    int blockSize,
    int maxTokensPerStep,
    int maxSeqs,
    int maxLoras,
    int maxRank,
    Set<Proj> loraTargets,
    long hostCacheBytes,
    long adapterFailureTtlMs,
    LlamaModel.LoraKernel loraKernel) {

  public static final String KV_BLOCKS = "lorastream.kv.blocks";
  public static final String BLOCK_SIZE = "lorastream.kv.block-size";
  public static final String STEP_MAX_TOKENS = "lorastream.step.max-tokens";
  public static final String STEP_MAX_SEQS = "lorastream.step.max-seqs";
  public static final String MAX_LORAS = "lorastream.lora.max-loras";
  public static final String MAX_RANK = "lorastream.lora.max-rank";
  public static final String LORA_TARGETS = "lorastream.lora.targets";
  public static final String HOST_CACHE_BYTES = "lorastream.adapters.host-cache-bytes";
  public static final String FAILURE_TTL_MS = "lorastream.adapters.failure-ttl-ms";
  public static final String LORA_KERNEL = "lorastream.lora.kernel";

  /** Sequences per step when {@link #STEP_MAX_SEQS} is not set. */
  public static final int DEFAULT_MAX_SEQS = 64;

  /** The system properties {@link #defaults} reads. */
  public static final List<String> KEYS =
      List.of(
          KV_BLOCKS,
          BLOCK_SIZE,
          STEP_MAX_TOKENS,
          STEP_MAX_SEQS,
          MAX_LORAS,
          MAX_RANK,
          LORA_TARGETS,
          HOST_CACHE_BYTES,
          FAILURE_TTL_MS,
          LORA_KERNEL);

  /**
   * 4 GiB of loaded adapters. Adapters are held as floats: a rank-16 adapter on all seven
   * projections of a 7B Llama is about 160 MB, so this keeps some 25 of those (a hundred at rank 4,
   * thousands of small test adapters) while staying well inside the heap of a GPU host; lower it
   * when the JVM's heap ({@code -Xmx}) is small.
   */
  public static final long DEFAULT_HOST_CACHE_BYTES = 4L << 30;

  /** 10 s: a bad file is not reread for every request, and a fixed one is served soon. */
  public static final long DEFAULT_FAILURE_TTL_MS = 10_000;

  public EngineConfig {
    loraTargets = loraTargets.isEmpty() ? EnumSet.noneOf(Proj.class) : EnumSet.copyOf(loraTargets);
    positive(KV_BLOCKS, kvBlocks);
    positive(BLOCK_SIZE, blockSize);
    positive(STEP_MAX_TOKENS, maxTokensPerStep);
    positive(STEP_MAX_SEQS, maxSeqs);
    positive(MAX_LORAS, maxLoras);
    positive(MAX_RANK, maxRank);
    if (maxRank > Ops.MAX_RANK) {
      throw new IllegalArgumentException(
          MAX_RANK
              + " = "
              + maxRank
              + " is above the largest rank the engine serves ("
              + Ops.MAX_RANK
              + ")");
    }
    if (hostCacheBytes <= 0) {
      throw new IllegalArgumentException(
          HOST_CACHE_BYTES + " must be positive, got " + hostCacheBytes);
    }
    if (adapterFailureTtlMs < 0) {
      throw new IllegalArgumentException(
          FAILURE_TTL_MS + " must be at least 0, got " + adapterFailureTtlMs);
    }
  }

  /** Defaults, each overridable by the system property of the same name. */
  public static EngineConfig defaults() {
    return new EngineConfig(
        Integer.getInteger(KV_BLOCKS, 512),
        Integer.getInteger(BLOCK_SIZE, 16),
        Integer.getInteger(STEP_MAX_TOKENS, 256),
        Integer.getInteger(STEP_MAX_SEQS, DEFAULT_MAX_SEQS),
        Integer.getInteger(MAX_LORAS, 32),
        Integer.getInteger(MAX_RANK, 64),
        parseTargets(System.getProperty(LORA_TARGETS, "q,k,v,o,gate,up,down")),
        Long.getLong(HOST_CACHE_BYTES, DEFAULT_HOST_CACHE_BYTES),
        Long.getLong(FAILURE_TTL_MS, DEFAULT_FAILURE_TTL_MS),
        LlamaModel.LoraKernel.valueOf(
            System.getProperty(LORA_KERNEL, "sgmv").toUpperCase(java.util.Locale.ROOT)));
  }

  public EngineConfig withKvBlocks(int blocks) {
    return new EngineConfig(
        blocks,
        blockSize,
        maxTokensPerStep,
        maxSeqs,
        maxLoras,
        maxRank,
        loraTargets,
        hostCacheBytes,
        adapterFailureTtlMs,
        loraKernel);
  }

  public EngineConfig withStep(int maxTokens, int seqs) {
    return new EngineConfig(
        kvBlocks,
        blockSize,
        maxTokens,
        seqs,
        maxLoras,
        maxRank,
        loraTargets,
        hostCacheBytes,
        adapterFailureTtlMs,
        loraKernel);
  }

  public EngineConfig withLora(
      int loras, int rank, Set<Proj> targets, LlamaModel.LoraKernel kernel) {
    return new EngineConfig(
        kvBlocks,
        blockSize,
        maxTokensPerStep,
        maxSeqs,
        loras,
        rank,
        targets,
        hostCacheBytes,
        adapterFailureTtlMs,
        kernel);
  }

  /** This config with another host adapter tier: its byte budget and failure TTL. */
  public EngineConfig withHostAdapters(long cacheBytes, long failureTtlMs) {
    return new EngineConfig(
        kvBlocks,
        blockSize,
        maxTokensPerStep,
        maxSeqs,
        maxLoras,
        maxRank,
        loraTargets,
        cacheBytes,
        failureTtlMs,
        loraKernel);
  }

  /** "q,k,v,o" → {Q, K, V, O}; empty string → none. */
  public static Set<Proj> parseTargets(String csv) {
    Set<Proj> out = EnumSet.noneOf(Proj.class);
    for (String s : csv.split(",")) {
      if (!s.isBlank()) {
        out.add(Proj.parse(s.trim()));
      }
    }
    return out;
  }

  private static void positive(String key, int v) {
    if (v <= 0) {
      throw new IllegalArgumentException(key + " must be positive, got " + v);
    }
  }
}
