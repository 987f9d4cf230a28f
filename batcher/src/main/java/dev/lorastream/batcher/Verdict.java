package dev.lorastream.batcher;

import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;

/** What {@link ValidateProcessor} decided about one decoded request. */
sealed interface Verdict {

  /** Valid: it goes to the batch buffer. */
  record Accepted(InferenceRequest request) implements Verdict {}

  /** Invalid: {@code reply} (finishReason ERROR, with code and message) goes to {@code topic}. */
  record Rejected(String topic, InferenceResult reply) implements Verdict {}
}
