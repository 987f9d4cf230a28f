package dev.lorastream.engine.sched;

import dev.lorastream.engine.model.LlamaModel;
import dev.lorastream.engine.model.Proj;
import java.util.EnumSet;
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
 * @param maxRank largest adapter rank accepted
 * @param loraTargets projections that get adapter slots
 * @param hostAdapterCache adapters kept loaded in host memory (LRU)
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
    int hostAdapterCache,
    LlamaModel.LoraKernel loraKernel) {

  public EngineConfig {
    loraTargets = loraTargets.isEmpty() ? EnumSet.noneOf(Proj.class) : EnumSet.copyOf(loraTargets);
    positive("lorastream.kv.blocks", kvBlocks);
    positive("lorastream.kv.block-size", blockSize);
    positive("lorastream.step.max-tokens", maxTokensPerStep);
    positive("lorastream.step.max-seqs", maxSeqs);
    positive("lorastream.lora.max-loras", maxLoras);
    positive("lorastream.lora.max-rank", maxRank);
    positive("lorastream.adapters.host-cache", hostAdapterCache);
  }

  /** Defaults, each overridable by the system property of the same name. */
  public static EngineConfig defaults() {
    return new EngineConfig(
        Integer.getInteger("lorastream.kv.blocks", 512),
        Integer.getInteger("lorastream.kv.block-size", 16),
        Integer.getInteger("lorastream.step.max-tokens", 256),
        Integer.getInteger("lorastream.step.max-seqs", 64),
        Integer.getInteger("lorastream.lora.max-loras", 32),
        Integer.getInteger("lorastream.lora.max-rank", 64),
        parseTargets(System.getProperty("lorastream.lora.targets", "q,k,v,o,gate,up,down")),
        Integer.getInteger("lorastream.adapters.host-cache", 256),
        LlamaModel.LoraKernel.valueOf(
            System.getProperty("lorastream.lora.kernel", "sgmv").toUpperCase(java.util.Locale.ROOT)));
  }

  public EngineConfig withKvBlocks(int blocks) {
    return new EngineConfig(
        blocks, blockSize, maxTokensPerStep, maxSeqs, maxLoras, maxRank, loraTargets, hostAdapterCache,
        loraKernel);
  }

  public EngineConfig withStep(int maxTokens, int seqs) {
    return new EngineConfig(
        kvBlocks, blockSize, maxTokens, seqs, maxLoras, maxRank, loraTargets, hostAdapterCache, loraKernel);
  }

  public EngineConfig withLora(int loras, int rank, Set<Proj> targets, LlamaModel.LoraKernel kernel) {
    return new EngineConfig(
        kvBlocks, blockSize, maxTokensPerStep, maxSeqs, loras, rank, targets, hostAdapterCache, kernel);
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
