package dev.lorastream.engine.sched;

/**
 * Why the engine could not serve a request: the code of a failed {@link GenerationResult}. The
 * engine's own vocabulary (it knows nothing of the wire); the consumer maps each value to the reply
 * schema's code in one exhaustive switch, so a value added here fails its compilation until it is
 * mapped.
 */
public enum EngineError {
  /** The adapter source has no adapter of that id. */
  UNKNOWN_ADAPTER,
  /**
   * The adapter failed to load or does not fit the engine (bad files, rank, base model, targets).
   */
  ADAPTER_INVALID,
  /** The prompt does not fit the model context or the KV cache. */
  PROMPT_TOO_LONG,
  /**
   * A request field the engine cannot serve: no prompt tokens, a token outside the vocabulary, ...
   */
  INVALID_PARAMS,
  /** The engine failed (a backend fault); every queued and running request gets this. */
  INTERNAL,
  /**
   * The request's deadline passed before it finished (at submit, queued, or mid-generation); the
   * result carries the tokens generated so far.
   */
  DEADLINE_EXCEEDED,
  /** {@link Engine#cancel} ended the request; the result carries the tokens generated so far. */
  CANCELLED
}
