package dev.lorastream.ingest;

import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.StreamChunk;

/**
 * What {@link LoraClient#stream} publishes: the request's {@link Chunk}s as they are generated, a
 * {@link Restart} when the request is computed again (a higher attempt: the text of the earlier one
 * is dropped), and last the authoritative {@link Result}.
 */
public sealed interface StreamEvent {

  /** A piece of the text; {@code chunk.getText()} is whole UTF-8 characters. */
  record Chunk(StreamChunk chunk) implements StreamEvent {}

  /**
   * The request is being computed again (after its batch was redelivered to another consumer):
   * forget the text of {@code droppedAttempt} ({@code droppedText}); the chunks of {@code attempt}
   * follow, from index 0.
   */
  record Restart(long droppedAttempt, long attempt, String droppedText) implements StreamEvent {}

  /**
   * The request's result, exactly as {@link LoraClient#submit} completes with it; the last event.
   */
  record Result(InferenceResult result) implements StreamEvent {}
}
