package dev.lorastream.bench;

import dev.lorastream.engine.config.ModelConfig;
import dev.lorastream.engine.config.Proj;
import dev.lorastream.engine.model.LayerWeights;
import dev.lorastream.engine.model.LlamaWeights;
import dev.lorastream.engine.ops.Tensor;
import java.util.Set;

/**
 * The memory-bandwidth floor of a decode step (docs/benchmarks.md, "Physical floors"): every byte a
 * step must read, over the measured bandwidth. Bytes per step = base weights as stored (every
 * layer, final norm, LM head; of the embedding only the step's rows, which is negligible and left
 * out) + for each distinct adapter in the step its F32 slot rows, {@code rank × (in + out) × 4} per
 * targeted projection per layer + the KV cache read by attention, {@code 2 × layers × kvHeads ×
 * headDim × 4} per cached token.
 *
 * @param baseWeightBytes base weights read once per step
 * @param loraBytesPerAdapter slot bytes one adapter's rows occupy over all layers and targets
 * @param kvBytesPerToken key + value bytes of one cached token over all layers
 * @param readGBs bandwidth the floor divides by (the measured read-only rate, 1e9 bytes per GB)
 */
public record Floors(
    long baseWeightBytes, long loraBytesPerAdapter, long kvBytesPerToken, double readGBs) {

  /**
   * @param loraBytesPerAdapter mean of {@link #loraBytes} over the adapters the benchmark uses
   */
  public static Floors of(
      ModelConfig cfg,
      LlamaWeights w,
      long loraBytesPerAdapter,
      int activationBytes,
      double readGBs) {
    long base = bytes(w.finalNorm()) + bytes(w.lmHead());
    for (LayerWeights lw : w.layers()) {
      base +=
          bytes(lw.attnNorm())
              + bytes(lw.mlpNorm())
              + bytes(lw.bq())
              + bytes(lw.bk())
              + bytes(lw.bv());
      for (Proj p : Proj.values()) {
        base += bytes(lw.linear(p));
      }
    }
    long kv = 2L * cfg.numLayers() * cfg.numKvHeads() * cfg.headDim() * activationBytes;
    return new Floors(base, loraBytesPerAdapter, kv, readGBs);
  }

  /**
   * Slot bytes a decode step reads for one adapter: its live rows of a and bT, every layer and
   * target.
   */
  public static long loraBytes(ModelConfig cfg, int rank, Set<Proj> targets, int activationBytes) {
    long lora = 0;
    for (Proj p : targets) {
      lora += (long) cfg.numLayers() * rank * (p.inDim(cfg) + p.outDim(cfg)) * activationBytes;
    }
    return lora;
  }

  /**
   * Bytes one decode step must read for {@code seqs} sequences of mean context {@code meanContext}.
   */
  public double stepBytes(double seqs, double distinctAdapters, double meanContext) {
    return baseWeightBytes
        + distinctAdapters * loraBytesPerAdapter
        + seqs * meanContext * kvBytesPerToken;
  }

  /** The floor in milliseconds. */
  public double floorMs(double seqs, double distinctAdapters, double meanContext) {
    return stepBytes(seqs, distinctAdapters, meanContext) / (readGBs * 1e9) * 1e3;
  }

  private static long bytes(Tensor t) {
    return t == null ? 0 : t.numel() * t.dtype().bytes();
  }
}
