package dev.lorastream.engine.sched;

import dev.lorastream.engine.config.ModelConfig;
import java.util.function.LongSupplier;

/**
 * What the engine checks of a request at submit, before it queues it: each refusal is an error
 * result with a code and a message a person can act on (naming the token, the limit or the
 * deadline). Stateless apart from the clock it reads; thread-safe.
 */
final class RequestChecks {
  private final ModelConfig cfg;
  private final EngineConfig ec;
  private final int capacity;
  private final boolean hasDecoder;
  private final LongSupplier clockMs;

  /**
   * @param capacity tokens one sequence can hold: model context and KV cache, whichever is less
   * @param hasDecoder whether the engine can decode text (stop strings need it)
   * @param clockMs the wall clock in epoch milliseconds, against which deadlines are checked
   */
  RequestChecks(
      ModelConfig cfg, EngineConfig ec, int capacity, boolean hasDecoder, LongSupplier clockMs) {
    this.cfg = cfg;
    this.ec = ec;
    this.capacity = capacity;
    this.hasDecoder = hasDecoder;
    this.clockMs = clockMs;
  }

  /** Tokens one sequence can hold: model context and KV cache, whichever is less. */
  int capacity() {
    return capacity;
  }

  /** The error reply for a request the engine cannot serve, or null when it can. */
  GenerationResult refusal(GenerationRequest r) {
    int[] p = r.promptTokens();
    if (p.length == 0) {
      return refuse(
          r,
          EngineError.INVALID_PARAMS,
          "the prompt has no tokens; send at least one (usually BOS)");
    }
    for (int i = 0; i < p.length; i++) {
      if (p[i] < 0 || p[i] >= cfg.vocabSize()) {
        return refuse(
            r,
            EngineError.INVALID_PARAMS,
            "prompt token "
                + i
                + " is "
                + p[i]
                + ", outside the vocabulary [0, "
                + cfg.vocabSize()
                + ")");
      }
    }
    if (p.length >= capacity) {
      return refuse(
          r,
          EngineError.PROMPT_TOO_LONG,
          "the prompt has "
              + p.length
              + " tokens; this engine serves at most "
              + (capacity - 1)
              + " (model context "
              + cfg.maxPositionEmbeddings()
              + ", KV cache "
              + ec.kvBlocks() * ec.blockSize()
              + " tokens)");
    }
    long needed = (long) p.length + r.params().maxTokens();
    if (needed > capacity) {
      return refuse(
          r,
          EngineError.PROMPT_TOO_LONG,
          "the prompt has "
              + p.length
              + " tokens and maxTokens is "
              + r.params().maxTokens()
              + ": "
              + needed
              + " tokens do not fit this engine's context of "
              + capacity
              + " (model context "
              + cfg.maxPositionEmbeddings()
              + ", KV cache "
              + ec.kvBlocks() * ec.blockSize()
              + " tokens); shorten the prompt or lower maxTokens to at most "
              + Math.max(0, capacity - p.length));
    }
    if (!hasDecoder && !r.params().stopStrings().isEmpty()) {
      return refuse(
          r, EngineError.INVALID_PARAMS, "stop strings need a tokenizer and this engine has none");
    }
    long deadline = r.deadlineEpochMs();
    if (deadline > 0) {
      long now = clockMs.getAsLong();
      if (now >= deadline) {
        return refuse(
            r,
            EngineError.DEADLINE_EXCEEDED,
            "the deadline "
                + deadline
                + " passed "
                + (now - deadline)
                + " ms before the engine received the request");
      }
    }
    return null;
  }

  private static GenerationResult refuse(GenerationRequest r, EngineError code, String message) {
    return GenerationResult.error(r.id(), r.promptTokens().length, code, message, 0);
  }
}
