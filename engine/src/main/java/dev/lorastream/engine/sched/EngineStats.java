package dev.lorastream.engine.sched;

/**
 * Counters of an engine, updated by the engine thread and read by anyone (metrics, benchmarks).
 * Values are plain volatile reads: a snapshot may mix two steps.
 */
public final class EngineStats {
  private volatile long steps;
  private volatile long stepTokens;
  private volatile long sampledTokens;
  private volatile long stepNanos;
  private volatile long finished;
  private volatile long generatedTokens;
  private volatile long errors;
  private volatile int lastBatchSeqs;

  void recordStep(int tokens, int sampled, int seqs, long nanos) {
    steps++;
    stepTokens += tokens;
    sampledTokens += sampled;
    stepNanos += nanos;
    lastBatchSeqs = seqs;
  }

  void recordFinish(int generated) {
    finished++;
    generatedTokens += generated;
  }

  void recordError() {
    errors++;
  }

  public long steps() {
    return steps;
  }

  /** Tokens computed (prefill and decode) over all steps. */
  public long stepTokens() {
    return stepTokens;
  }

  public long sampledTokens() {
    return sampledTokens;
  }

  /** Time spent inside steps (model forward and sampling), in nanoseconds. */
  public long stepNanos() {
    return stepNanos;
  }

  public long finished() {
    return finished;
  }

  public long generatedTokens() {
    return generatedTokens;
  }

  public long errors() {
    return errors;
  }

  public int lastBatchSeqs() {
    return lastBatchSeqs;
  }
}
