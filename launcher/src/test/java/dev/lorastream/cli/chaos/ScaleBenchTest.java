package dev.lorastream.cli.chaos;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** {@code bench scale}'s arithmetic: a phase's figures from its replies and the projection. */
class ScaleBenchTest {
  private static ChaosTally.Reply reply(String id, String by, long at, String adapter, int tokens) {
    return new ChaosTally.Reply(id, by, at, null, adapter, tokens);
  }

  @Test
  void aPhaseCountsOnlyItsOwnRequestsOnceAndSplitsThemByConsumer() {
    List<ChaosTally.Reply> replies =
        List.of(
            reply("warm-1", "c1", 900, "a", 50), // another phase's: not counted
            reply("p-1", "c1", 1_400, "a", 100),
            reply("p-2", "c2", 1_900, "a", 60),
            reply("p-3", "c2", 2_000, null, 40),
            reply("p-3", "c2", 2_100, null, 40)); // a repeat: counted once, its time not used
    ScaleBench.Phase p =
        ScaleBench.phase(
            2,
            List.of("p-1", "p-2", "p-3"),
            replies,
            1_000,
            Map.of("c1", Duration.ofSeconds(1), "c2", Duration.ofSeconds(2)),
            Map.of("c1", Duration.ofSeconds(3), "c2", Duration.ofSeconds(3)),
            Map.of(
                "c1",
                    Map.of(
                        "lorastream_engine_steps_total",
                        10.0,
                        "lorastream_engine_step_seconds_total",
                        1.0),
                "c2", Map.of()),
            Map.of(
                "c1",
                    Map.of(
                        "lorastream_engine_steps_total",
                        30.0,
                        "lorastream_engine_step_seconds_total",
                        1.5),
                "c2",
                    Map.of(
                        "lorastream_engine_steps_total",
                        10.0,
                        "lorastream_engine_step_seconds_total",
                        0.5)),
            4.0);
    assertEquals(200, p.tokens());
    assertEquals(1.0, p.wallS(), 1e-9, "first send to the last reply of the phase");
    assertEquals(200.0, p.tokensPerS(), 1e-9);
    assertEquals(new ScaleBench.ConsumerShare(1, 100, 1, 2.0, 20, 0.5), p.shares().get("c1"));
    assertEquals(new ScaleBench.ConsumerShare(2, 100, 2, 1.0, 10, 0.5), p.shares().get("c2"));
    assertEquals(Map.of("a", 2, "base", 1), p.consumersPerAdapter());
    assertEquals(1.5, p.meanConsumersPerAdapter(), 1e-9);
    // seconds per step over both: 1.0 s in 30 steps
    assertEquals(1.0 / 30, p.secondsPerStep(), 1e-12);
  }

  @Test
  void theProjectionIsTheTokensOverTheMostStepsAtTheReferencesStepTime() {
    ScaleBench.Phase one =
        new ScaleBench.Phase(
            1,
            10,
            1_000,
            5.0,
            Map.of("c1", new ScaleBench.ConsumerShare(10, 1_000, 3, 5.0, 100, 2.0)),
            Map.of(),
            1.0);
    ScaleBench.Phase two =
        new ScaleBench.Phase(
            2,
            10,
            1_000,
            9.0,
            Map.of(
                "c1", new ScaleBench.ConsumerShare(6, 600, 3, 4.0, 60, 6.0),
                "c2", new ScaleBench.ConsumerShare(4, 400, 3, 3.0, 40, 4.0)),
            Map.of(),
            1.0);
    // the reference steps take 20 ms: 1000 tokens in 100 steps = 500 tokens/s
    assertEquals(500.0, one.projectedTokensPerS(one), 1e-9);
    // two consumers: the busier takes 60 steps of 20 ms = 1.2 s for 1000 tokens
    assertEquals(1_000 / 1.2, two.projectedTokensPerS(one), 1e-9);
    assertEquals(1 / 0.6, two.projectedTokensPerS(one) / one.projectedTokensPerS(one), 1e-9);
  }
}
