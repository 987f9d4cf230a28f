package dev.lorastream.schemas;

import java.util.Optional;

/**
 * The wire-level rules of a request's {@link SamplingParams}, written once for every module that
 * checks a request before the engine sees it: the batcher's admission, the inference consumer's
 * intake and the bulk client's input lines. Each method answers the problem, for a person to act
 * on, or empty when the value is acceptable.
 */
public final class SamplingRules {
  private SamplingRules() {}

  /**
   * The first problem of {@code s}, with maxTokens at most {@code maxNewTokens} (the setting {@code
   * limitKey}).
   */
  public static Optional<String> problem(SamplingParams s, int maxNewTokens, String limitKey) {
    return temperature(s.getTemperature())
        .or(() -> topP(s.getTopP()))
        .or(() -> topK(s.getTopK()))
        .or(() -> maxTokens(s.getMaxTokens(), maxNewTokens, limitKey))
        .or(() -> stopStrings(s));
  }

  /** The first problem of {@code s}, with no upper limit on {@code maxTokens}. */
  public static Optional<String> problem(SamplingParams s) {
    return problem(s, Integer.MAX_VALUE, null);
  }

  /**
   * 0 (greedy) or a finite value above 0. There is no lower bound: the engine scales {@code (logit
   * - max)} by the temperature in double precision, so a tiny positive value, down to the smallest
   * subnormal float (1.4e-45), is served safely and picks the greedy token.
   */
  public static Optional<String> temperature(float t) {
    if (!Float.isFinite(t) || t < 0) {
      return Optional.of(
          "sampling.temperature=" + t + " is invalid: must be 0 (greedy) or a finite value > 0");
    }
    return Optional.empty();
  }

  /** In (0, 1]. */
  public static Optional<String> topP(float p) {
    if (!(p > 0 && p <= 1)) { // also false for NaN
      return Optional.of("sampling.topP=" + p + " is invalid: must be in (0, 1]");
    }
    return Optional.empty();
  }

  /** 0 (no cut) or more. */
  public static Optional<String> topK(int k) {
    if (k < 0) {
      return Optional.of("sampling.topK=" + k + " is invalid: must be >= 0 (0 = no top-k cut)");
    }
    return Optional.empty();
  }

  /**
   * In [1, limit]; {@code limitKey} names the setting of the limit ({@code null} when there is
   * none).
   */
  public static Optional<String> maxTokens(int max, int limit, String limitKey) {
    if (max < 1 || max > limit) {
      String range = limit == Integer.MAX_VALUE ? ">= 1" : "in [1, " + limit + "]";
      return Optional.of(
          "sampling.maxTokens="
              + max
              + " is invalid: must be "
              + range
              + (limitKey == null ? "" : " (" + limitKey + ")"));
    }
    return Optional.empty();
  }

  /** No empty stop string (it would match before any text). */
  public static Optional<String> stopStrings(SamplingParams s) {
    for (int i = 0; i < s.getStopStrings().size(); i++) {
      if (s.getStopStrings().get(i).isEmpty()) {
        return Optional.of(
            "sampling.stopStrings[" + i + "] is empty: a stop string needs at least one character");
      }
    }
    return Optional.empty();
  }
}
