package dev.lorastream.schemas;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * The one statement of the wire's sampling rules, as the batcher, the consumer and the bulk client
 * see them.
 */
class SamplingRulesTest {

  @Test
  void theSchemaDefaultsAreAcceptable() {
    assertEquals(Optional.empty(), SamplingRules.problem(SamplingParams.newBuilder().build()));
  }

  @Test
  void eachRuleNamesTheFieldTheValueAndTheRange() {
    assertEquals(
        Optional.of(
            "sampling.temperature=-0.5 is invalid: must be 0 (greedy) or a finite value > 0"),
        SamplingRules.temperature(-0.5f));
    assertEquals(
        Optional.of(
            "sampling.temperature=Infinity is invalid: must be 0 (greedy) or a finite value > 0"),
        SamplingRules.temperature(Float.POSITIVE_INFINITY));
    assertEquals(
        Optional.of("sampling.topP=NaN is invalid: must be in (0, 1]"),
        SamplingRules.topP(Float.NaN));
    assertEquals(
        Optional.of("sampling.topK=-1 is invalid: must be >= 0 (0 = no top-k cut)"),
        SamplingRules.topK(-1));
    assertEquals(
        Optional.of(
            "sampling.maxTokens=17 is invalid: must be in [1, 16] (batcher.max.new.tokens)"),
        SamplingRules.maxTokens(17, 16, "batcher.max.new.tokens"));
    assertEquals(
        Optional.of("sampling.maxTokens=0 is invalid: must be >= 1"),
        SamplingRules.maxTokens(0, Integer.MAX_VALUE, null));
    assertEquals(Optional.empty(), SamplingRules.maxTokens(1 << 20, Integer.MAX_VALUE, null));
  }

  @Test
  void theFirstProblemDecides() {
    SamplingParams s =
        SamplingParams.newBuilder()
            .setTopP(0f)
            .setMaxTokens(0)
            .setStopStrings(List.of("end", ""))
            .build();
    assertEquals(
        Optional.of("sampling.topP=0.0 is invalid: must be in (0, 1]"),
        SamplingRules.problem(s, 16, "k"));
    s = SamplingParams.newBuilder().setStopStrings(List.of("end", "")).build();
    assertEquals(
        Optional.of("sampling.stopStrings[1] is empty: a stop string needs at least one character"),
        SamplingRules.problem(s));
  }
}
