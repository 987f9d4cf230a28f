package dev.lorastream.bench;

import dev.lorastream.engine.config.Proj;
import dev.lorastream.engine.lora.AdapterSource;
import dev.lorastream.engine.model.LayerWeights;
import dev.lorastream.engine.model.LlamaModel;
import dev.lorastream.engine.model.LlamaWeights;
import dev.lorastream.engine.ops.Tensor;
import dev.lorastream.engine.sample.SamplingParams;
import dev.lorastream.engine.sched.Engine;
import dev.lorastream.engine.sched.EngineConfig;
import dev.lorastream.engine.sched.GenerationRequest;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.locks.LockSupport;

/**
 * Decode steps and prefills timed at step level: several setups (a kernel × a batch × with or
 * without adapters), each an engine holding its own sequences over the same model, stepped in
 * rotation, one step each in turn (A B C A B C …, the order reversed on odd repetitions), so that a
 * drift of the shared machine falls on all of them alike. Each repetition's figure of a setup is
 * the median of its steps in that repetition; a ratio is taken per repetition, and quoted as the
 * median over repetitions with its range.
 *
 * <p>The floor of a step is the roofline's: {@code max(bytes / read bandwidth, FLOPs / the best
 * multiply rate the CPU has)}, both rates from the native probes of the same run ({@link
 * dev.lorastream.engine.ops.cpu.NativeCpu#measurePeaks}). Bytes: every weight a step reads ({@link
 * Floors}); FLOPs: {@code 2 × linear parameters × tokens} (the seven projections of every layer and
 * the LM head; attention over a context of under 100 tokens adds under 1 % and is left out).
 */
final class StepFigures {
  private StepFigures() {}

  /** A setup whose decode steps are timed. */
  static final class Decoding {
    final String label;
    final Engine engine;
    final int seqs;
    final double floorMs;
    final List<double[]> reps = new ArrayList<>(); // per repetition: its steps' ms

    Decoding(String label, Engine engine, int seqs, double floorMs) {
      this.label = label;
      this.engine = engine;
      this.seqs = seqs;
      this.floorMs = floorMs;
    }

    /** Per repetition, the median step in milliseconds. */
    double[] repMedians() {
      return reps.stream().mapToDouble(Stats::median).toArray();
    }
  }

  /**
   * An engine with {@code seqs} sequences that have finished their prefill and decode from now on
   * (random prompts, no stop token, room for {@code maxSteps} more tokens each): steps run here
   * until every sequence has sampled its first token with its adapter resident.
   *
   * @param adapters the adapter of each sequence (cycled), or empty for the base model
   */
  static Decoding decoding(
      String label,
      LlamaModel model,
      EngineConfig ec,
      AdapterSource source,
      int seqs,
      List<String> adapters,
      int promptLen,
      int maxSteps,
      double floorMs,
      long seed) {
    Engine e = new Engine(model, ec, source, null);
    int vocab = model.config().vocabSize();
    SplittableRandom rnd = new SplittableRandom(seed);
    for (int s = 0; s < seqs; s++) {
      int[] prompt = new int[promptLen];
      for (int i = 0; i < promptLen; i++) {
        prompt[i] = 4 + rnd.nextInt(vocab - 4);
      }
      String adapter = adapters.isEmpty() ? null : adapters.get(s % adapters.size());
      e.submit(
          new GenerationRequest(
              label + "-" + s, prompt, adapter, SamplingParams.greedy(maxSteps + 2)));
    }
    long deadline = System.nanoTime() + 600_000_000_000L;
    // until a step is a pure decode step of every sequence: one token each, all of them
    for (boolean ready = false; !ready; ) {
      long tokens = e.stats().stepTokens();
      if (!e.step()) {
        LockSupport.parkNanos(100_000); // adapters loading
        continue;
      }
      ready = e.stats().lastBatchSeqs() == seqs && e.stats().stepTokens() - tokens == seqs;
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException(label + ": the sequences did not start within 600 s");
      }
    }
    return new Decoding(label, e, seqs, floorMs);
  }

  /**
   * Times {@code reps × steps} decode steps of every setup, one step of each in turn; checks that
   * every timed step ran all of the setup's sequences.
   */
  static void rotate(List<Decoding> setups, int reps, int steps) {
    for (int rep = 0; rep < reps; rep++) {
      List<Decoding> order = rep % 2 == 0 ? setups : setups.reversed();
      double[][] ms = new double[setups.size()][steps];
      for (int s = 0; s < steps; s++) {
        for (Decoding d : order) {
          long t0 = System.nanoTime();
          d.engine.step();
          ms[setups.indexOf(d)][s] = (System.nanoTime() - t0) / 1e6;
          if (d.engine.stats().lastBatchSeqs() != d.seqs) {
            throw new IllegalStateException(
                d.label
                    + ": a timed step ran "
                    + d.engine.stats().lastBatchSeqs()
                    + " sequences, not "
                    + d.seqs
                    + " (running "
                    + d.engine.scheduler().numRunning()
                    + ", waiting "
                    + d.engine.scheduler().numWaiting()
                    + ", step tokens "
                    + d.engine.stats().stepTokens()
                    + ", free KV blocks "
                    + d.engine.freeKvBlocks()
                    + ")");
          }
        }
      }
      for (int i = 0; i < setups.size(); i++) {
        setups.get(i).reps.add(ms[i]);
      }
    }
  }

  /** A prefill figure: the prompt tokens per second of one engine per repetition. */
  static final class Prefill {
    final String label;
    final LlamaModel model;
    final EngineConfig ec;
    final List<Double> tokensPerSecond = new ArrayList<>();

    Prefill(String label, LlamaModel model, EngineConfig ec) {
      this.label = label;
      this.model = model;
      this.ec = ec;
    }
  }

  /**
   * Each repetition, for each setup in turn (reversed on odd repetitions): a fresh engine prefills
   * {@code prompts} random prompts of {@code promptLen} tokens and samples one token each; the
   * prompt tokens over the wall time of those steps.
   */
  static void prefill(List<Prefill> setups, int reps, int prompts, int promptLen, long seed) {
    for (int rep = 0; rep < reps; rep++) {
      for (Prefill p : rep % 2 == 0 ? setups : setups.reversed()) {
        Engine e = new Engine(p.model, p.ec, id -> null, null);
        SplittableRandom rnd = new SplittableRandom(seed + rep);
        int vocab = p.model.config().vocabSize();
        for (int s = 0; s < prompts; s++) {
          int[] prompt = new int[promptLen];
          for (int i = 0; i < promptLen; i++) {
            prompt[i] = 4 + rnd.nextInt(vocab - 4);
          }
          e.submit(
              new GenerationRequest(
                  p.label + "-" + rep + "-" + s, prompt, null, SamplingParams.greedy(1)));
        }
        long t0 = System.nanoTime();
        e.runUntilIdle();
        double s = (System.nanoTime() - t0) / 1e9;
        p.tokensPerSecond.add(prompts * (double) promptLen / s);
        e.close();
      }
    }
  }

  /** FLOPs of the linear layers for {@code tokens} tokens: 2 × parameters × tokens. */
  static double linearFlops(LlamaWeights w, double tokens) {
    long params = numel(w.lmHead());
    for (LayerWeights lw : w.layers()) {
      for (Proj p : Proj.values()) {
        params += numel(lw.linear(p));
      }
    }
    return 2.0 * params * tokens;
  }

  /**
   * The roofline floor of a decode step of {@code seqs} sequences with {@code adapters} distinct
   * adapters at mean context {@code context}: max(bytes / read bandwidth, FLOPs / best rate), ms.
   */
  static double decodeFloorMs(
      Floors floors, LlamaWeights w, double bestGflops, int seqs, int adapters, double context) {
    double bytesMs = floors.floorMs(seqs, adapters, context);
    double flopsMs = bestGflops > 0 ? linearFlops(w, seqs) / (bestGflops * 1e9) * 1e3 : 0;
    return Math.max(bytesMs, flopsMs);
  }

  /**
   * {@code base} with KV blocks for {@code seqs} sequences of {@code promptLen + newTokens} tokens
   * and a step budget that prefills all of their prompts in one step.
   */
  static EngineConfig config(EngineConfig base, int seqs, int promptLen, int newTokens) {
    int blockSize = 16;
    int blocksPerSeq = (promptLen + newTokens + blockSize - 1) / blockSize + 1;
    return base.withKvBlocks(seqs * blocksPerSeq).withStep(Math.max(256, seqs * promptLen), seqs);
  }

  /** One row of the report: a setup's median step (or prefill) with its range and floor. */
  record Row(String label, String unit, double median, double min, double max, double floor) {}

  private static long numel(Tensor t) {
    return t == null ? 0 : t.numel();
  }
}
