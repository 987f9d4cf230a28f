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
  private volatile long cancelled;
  private volatile long cancelsIgnored;
  private volatile long deadlinesExceeded;

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

  void recordCancelled() {
    cancelled++;
  }

  void recordCancelIgnored() {
    cancelsIgnored++;
  }

  void recordDeadlineExceeded() {
    deadlinesExceeded++;
  }

  /** Requests ended by {@link Engine#cancel}. */
  public long cancelled() {
    return cancelled;
  }

  /** Cancels that found no queued or running request of their id (unknown, or finished already). */
  public long cancelsIgnored() {
    return cancelsIgnored;
  }

  /** Requests ended because their deadline passed while queued or running. */
  public long deadlinesExceeded() {
    return deadlinesExceeded;
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
