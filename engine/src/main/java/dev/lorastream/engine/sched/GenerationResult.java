package dev.lorastream.engine.sched;

/**
 * The outcome of one {@link GenerationRequest}: generated tokens and text, or an error code and
 * message.
 *
 * @param tokens generated token ids (stop tokens excluded)
 * @param errorCode null on success; else why the request failed
 * @param queuedNanos from submit to the first step that computed the sequence
 * @param firstTokenNanos from submit to the first generated token
 * @param totalNanos from submit to completion
 * @param preemptions times the sequence was preempted and recomputed
 */
public record GenerationResult(
    String id,
    int[] tokens,
    String text,
    FinishReason finishReason,
    int promptTokens,
    EngineError errorCode,
    String errorMessage,
    long queuedNanos,
    long firstTokenNanos,
    long totalNanos,
    int preemptions) {

  public boolean ok() {
    return errorCode == null;
  }

  static GenerationResult error(
      String id, int promptTokens, EngineError code, String message, long totalNanos) {
    return new GenerationResult(
        id, new int[0], "", FinishReason.ERROR, promptTokens, code, message, 0, 0, totalNanos, 0);
  }
}
