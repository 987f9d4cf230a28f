package dev.lorastream.engine.sched;

/** Why a sequence ended: OpenAI's names. */
public enum FinishReason {
  /** A stop token or stop string. */
  STOP,
  /** max_tokens or the model's context length. */
  LENGTH,
  /** The request could not be served; see the result's error code. */
  ERROR;

  public String wireName() {
    return name().toLowerCase(java.util.Locale.ROOT);
  }
}
