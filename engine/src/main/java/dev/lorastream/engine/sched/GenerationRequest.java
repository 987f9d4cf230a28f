package dev.lorastream.engine.sched;

import dev.lorastream.engine.sample.SamplingParams;

/**
 * One sequence to generate.
 *
 * @param id caller's id, echoed in the result and named by {@link Engine#cancel}; the caller makes
 *     it unique for what it wants to cancel together (the inference consumer uses tenant and
 *     request id)
 * @param promptTokens {@code [n]} prompt token ids (BOS included if the model wants one)
 * @param adapterId the LoRA adapter to run through, or null for the base model
 * @param params sampling and stopping
 * @param priority admission order among waiting requests: higher first, arrival order within a
 *     level, and a waiting request gains one level every {@link Scheduler#AGING_STEPS} engine steps
 *     (any int; the wire's range is checked before the engine)
 * @param deadlineEpochMs wall-clock epoch milliseconds after which the request ends with {@link
 *     EngineError#DEADLINE_EXCEEDED} and the tokens generated so far, whether queued or running; 0
 *     for none
 * @param tenant who the request is served for, for fair shares between tenants ({@link
 *     FairShares}): waiting requests of equal effective priority go to the tenant that has received
 *     the least weighted service; null for none (all such requests share one anonymous tenant)
 */
public record GenerationRequest(
    String id,
    int[] promptTokens,
    String adapterId,
    SamplingParams params,
    int priority,
    long deadlineEpochMs,
    String tenant) {
  public GenerationRequest {
    promptTokens = promptTokens.clone();
  }

  /** A request of no tenant. */
  public GenerationRequest(
      String id,
      int[] promptTokens,
      String adapterId,
      SamplingParams params,
      int priority,
      long deadlineEpochMs) {
    this(id, promptTokens, adapterId, params, priority, deadlineEpochMs, null);
  }

  /** A request of priority 0, no deadline and no tenant. */
  public GenerationRequest(String id, int[] promptTokens, String adapterId, SamplingParams params) {
    this(id, promptTokens, adapterId, params, 0, 0, null);
  }
}
