package dev.lorastream.engine.sched;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.engine.sample.SamplingParams;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

/** The per-adapter snapshot's counting and order, and when the engine thread recomputes it. */
class AdapterInfoBoardTest {
  private static Sequence seq(String adapter) {
    return new Sequence(
        new GenerationRequest("r", new int[] {1, 2}, adapter, SamplingParams.greedy(1)),
        new CompletableFuture<>(),
        0);
  }

  @Test
  void theSnapshotCountsPerAdapterLeavesTheBaseModelOutAndPutsTheBusiestFirst() {
    List<Sequence> running = List.of(seq("b"), seq(null), seq("a"));
    List<Sequence> waiting = List.of(seq("b"), seq("c"), seq(null));
    List<Sequence> incoming = List.of(seq("c"), seq("a"));
    Map<String, AdapterInfo.Tier> tiers =
        Map.of("a", AdapterInfo.Tier.BACKEND, "b", AdapterInfo.Tier.HOST);
    assertEquals(
        List.of(
            new AdapterInfo("a", 1, 1, AdapterInfo.Tier.BACKEND),
            new AdapterInfo("b", 1, 1, AdapterInfo.Tier.HOST),
            new AdapterInfo("c", 0, 2, AdapterInfo.Tier.NONE)),
        AdapterInfoBoard.snapshot(
            running,
            List.of(waiting, incoming),
            id -> tiers.getOrDefault(id, AdapterInfo.Tier.NONE)),
        "two requests each: by id");
  }

  @Test
  void aSnapshotIsDueFirstThenOncePerIntervalOrWhenTheClockWentBack() {
    AdapterInfoBoard b = new AdapterInfoBoard(1000);
    assertTrue(b.due(5_000), "nothing published yet");
    b.publish(List.of(), 5_000);
    assertFalse(b.due(5_999));
    assertTrue(b.due(6_000));
    assertTrue(b.due(4_000), "the clock was set back");
    AdapterInfoBoard every = new AdapterInfoBoard(0);
    every.publish(List.of(), 5_000);
    assertTrue(every.due(5_000), "interval 0: every step");
  }

  @Test
  void aListenerThatThrowsDoesNotStopThePublication() {
    AdapterInfoBoard b = new AdapterInfoBoard(1000);
    b.listener(
        s -> {
          throw new IllegalStateException("a broken meter");
        });
    List<AdapterInfo> snap = List.of(new AdapterInfo("a", 1, 0, AdapterInfo.Tier.BACKEND));
    assertSame(snap, b.publish(snap, 0));
    assertSame(snap, b.latest());
  }

  @Test
  void aBadIntervalIsRefusedNamingTheKey() {
    assertEquals(1000, AdapterInfo.intervalMsFromProperty());
    System.setProperty(AdapterInfo.INTERVAL_MS_PROPERTY, "soon");
    try {
      var e = assertThrows(IllegalArgumentException.class, AdapterInfo::intervalMsFromProperty);
      assertEquals(
          "lorastream.metrics.adapter-info-interval-ms=soon is invalid: must be a whole number of"
              + " milliseconds, at least 0 (0 = every step)",
          e.getMessage());
    } finally {
      System.clearProperty(AdapterInfo.INTERVAL_MS_PROPERTY);
    }
  }
}
