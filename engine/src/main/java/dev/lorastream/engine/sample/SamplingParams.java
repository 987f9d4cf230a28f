package dev.lorastream.engine.sample;

import java.util.List;

/**
 * How one request's tokens are chosen and when it stops.
 *
 * @param temperature 0 for greedy; otherwise logits are divided by it
 * @param topK keep the k most likely tokens; 0 keeps all
 * @param topP keep the smallest set whose probability reaches p; 1 keeps all
 * @param seed the request's seed: the same seed gives the same tokens whatever else is in the batch
 * @param maxTokens the most tokens to generate (finish reason {@code length})
 * @param stopTokenIds tokens that end generation (finish reason {@code stop}; not part of the text)
 * @param stopStrings strings that end generation when they appear in the text (cut from the text)
 * @param ignoreEos go on past the model's end-of-sequence tokens (stop tokens still end it)
 */
public record SamplingParams(
    float temperature,
    int topK,
    float topP,
    long seed,
    int maxTokens,
    List<Integer> stopTokenIds,
    List<String> stopStrings,
    boolean ignoreEos) {

  public SamplingParams {
    stopTokenIds = List.copyOf(stopTokenIds);
    stopStrings = List.copyOf(stopStrings);
    validate(temperature, topK, topP, maxTokens, stopStrings);
  }

  /** Parameters that end at the model's end-of-sequence tokens. */
  public SamplingParams(
      float temperature,
      int topK,
      float topP,
      long seed,
      int maxTokens,
      List<Integer> stopTokenIds,
      List<String> stopStrings) {
    this(temperature, topK, topP, seed, maxTokens, stopTokenIds, stopStrings, false);
  }

  public static SamplingParams greedy(int maxTokens) {
    return new SamplingParams(0f, 0, 1f, 0L, maxTokens, List.of(), List.of());
  }

  public SamplingParams withStopTokens(List<Integer> ids) {
    return new SamplingParams(
        temperature, topK, topP, seed, maxTokens, ids, stopStrings, ignoreEos);
  }

  public boolean isGreedy() {
    return temperature == 0f;
  }

  private static void validate(
      float temperature, int topK, float topP, int maxTokens, List<String> stopStrings) {
    if (!(temperature >= 0f) || Float.isInfinite(temperature)) {
      throw new IllegalArgumentException(
          "temperature must be a finite number >= 0 (0 = greedy), got " + temperature);
    }
    if (topK < 0) {
      throw new IllegalArgumentException("top_k must be >= 0 (0 = no limit), got " + topK);
    }
    if (!(topP > 0f && topP <= 1f)) {
      throw new IllegalArgumentException("top_p must be in (0, 1], got " + topP);
    }
    if (maxTokens <= 0) {
      throw new IllegalArgumentException("max_tokens must be >= 1, got " + maxTokens);
    }
    for (String s : stopStrings) {
      if (s.isEmpty()) {
        throw new IllegalArgumentException("stop strings must not be empty");
      }
    }
  }
}
