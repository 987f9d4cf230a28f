package dev.lorastream.batcher;

import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;

/**
 * What admission decided about one decoded request so far: {@link DedupProcessor}, then {@link
 * ValidateProcessor}.
 */
sealed interface Verdict {

  /** Not refused by the steps so far; after validation it goes to the batch buffer. */
  record Accepted(InferenceRequest request) implements Verdict {}

  /**
   * Refused (a duplicate, or invalid): {@code reply} (finishReason ERROR, with code and message)
   * goes to {@code topic}.
   */
  record Rejected(String topic, InferenceResult reply) implements Verdict {}
}
