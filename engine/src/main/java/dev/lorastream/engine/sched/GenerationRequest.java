package dev.lorastream.engine.sched;

import dev.lorastream.engine.sample.SamplingParams;

/**
 * One sequence to generate.
 *
 * @param id caller's id, echoed in the result
 * @param promptTokens {@code [n]} prompt token ids (BOS included if the model wants one)
 * @param adapterId the LoRA adapter to run through, or null for the base model
 * @param params sampling and stopping
 */
public record GenerationRequest(
    String id, int[] promptTokens, String adapterId, SamplingParams params) {
  public GenerationRequest {
    promptTokens = promptTokens.clone();
  }
}
