package dev.lorastream.engine.sched;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.engine.kv.BlockAllocator;
import dev.lorastream.engine.sample.SamplingParams;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

class SchedulerTest {
  private static Sequence seq(String id, int promptLen) {
    int[] p = new int[promptLen];
    return new Sequence(
        new GenerationRequest(id, p, null, SamplingParams.greedy(100)),
        new CompletableFuture<>(),
        0);
  }

  /**
   * Applies a step as the engine would: chunks computed, one token sampled where the chunk ends.
   */
  private static void apply(List<Scheduler.Work> work) {
    for (Scheduler.Work w : work) {
      w.seq().computed = w.start() + w.count();
      if (w.samples()) {
        w.seq().append(7);
      }
    }
  }

  private static String describe(List<Scheduler.Work> work) {
    List<String> s = new ArrayList<>();
    for (Scheduler.Work w : work) {
      s.add(w.seq().request().id() + ":" + w.start() + "+" + w.count());
    }
    return String.join(" ", s);
  }

  @Test
  void longPromptsArePrefilledInChunksWithinTheTokenBudget() {
    BlockAllocator blocks = new BlockAllocator(16);
    Scheduler s = new Scheduler(blocks, 4, 8, 8);
    s.add(seq("a", 20));
    List<Scheduler.Work> w1 = s.schedule(q -> true, q -> {});
    assertEquals("a:0+8", describe(w1));
    apply(w1);
    List<Scheduler.Work> w2 = s.schedule(q -> true, q -> {});
    assertEquals("a:8+8", describe(w2));
    apply(w2);
    List<Scheduler.Work> w3 = s.schedule(q -> true, q -> {});
    assertEquals("a:16+4", describe(w3));
    assertTrue(w3.get(0).samples());
    assertEquals(5, w3.get(0).seq().blocks.size());
  }

  @Test
  void runningSequencesDecodeWhileNewOnesJoin() {
    BlockAllocator blocks = new BlockAllocator(16);
    Scheduler s = new Scheduler(blocks, 4, 8, 8);
    s.add(seq("a", 3));
    apply(s.schedule(q -> true, q -> {}));
    s.add(seq("b", 10));
    List<Scheduler.Work> w = s.schedule(q -> true, q -> {});
    assertEquals("a:3+1 b:0+7", describe(w));
  }

  @Test
  void aSequenceWhoseAdapterIsNotReadyWaitsWithoutBlockingOthers() {
    BlockAllocator blocks = new BlockAllocator(16);
    Scheduler s = new Scheduler(blocks, 4, 64, 8);
    s.add(seq("slow", 2));
    s.add(seq("fast", 2));
    List<Scheduler.Work> w = s.schedule(q -> !q.request().id().equals("slow"), q -> {});
    assertEquals("fast:0+2", describe(w));
    assertEquals(1, s.numWaiting());
  }

  @Test
  void whenBlocksRunOutTheNewestSequenceIsPreemptedAndRecomputedLater() {
    BlockAllocator blocks = new BlockAllocator(2);
    Scheduler s = new Scheduler(blocks, 4, 64, 8);
    s.add(seq("a", 4));
    s.add(seq("b", 4));
    List<Sequence> preempted = new ArrayList<>();
    apply(s.schedule(q -> true, preempted::add)); // a and b take one block each, both sample
    // both now need a second block for position 4: only a gets it, b (newest) is preempted
    List<Scheduler.Work> w = s.schedule(q -> true, preempted::add);
    assertEquals("a:4+1", describe(w));
    assertEquals(1, preempted.size());
    Sequence b = preempted.get(0);
    assertEquals("b", b.request().id());
    assertEquals(0, b.computed);
    assertEquals(0, b.blocks.size());
    assertEquals(5, b.length, "b keeps the token it generated and recomputes all five");
    assertEquals(1, s.numWaiting());
  }

  @Test
  void seatsLimitRunningSequences() {
    Scheduler s = new Scheduler(new BlockAllocator(16), 4, 64, 2);
    s.add(seq("a", 1));
    s.add(seq("b", 1));
    s.add(seq("c", 1));
    assertEquals("a:0+1 b:0+1", describe(s.schedule(q -> true, q -> {})));
  }

  private static Sequence seq(String id, int promptLen, int priority) {
    return new Sequence(
        new GenerationRequest(
            id, new int[promptLen], null, SamplingParams.greedy(100), priority, 0),
        new CompletableFuture<>(),
        0);
  }

  /** Runs one step with one seat and finishes the sequence it admitted; returns its id. */
  private static String admitOne(Scheduler s) {
    List<Scheduler.Work> w = s.schedule(q -> true, q -> {});
    assertEquals(1, w.size(), describe(w));
    Sequence admitted = w.get(0).seq();
    assertTrue(s.remove(admitted));
    return admitted.request().id();
  }

  @Test
  void waitingSequencesAreAdmittedHigherPriorityFirstAndInArrivalOrderWithinALevel() {
    Scheduler s = new Scheduler(new BlockAllocator(16), 4, 8, 1, 1_000);
    s.add(seq("low1", 2, -5));
    s.add(seq("high1", 2, 5));
    s.add(seq("normal1", 2, 0));
    s.add(seq("high2", 2, 5));
    s.add(seq("low2", 2, -5));
    s.add(seq("normal2", 2, 0));
    List<String> order = new ArrayList<>();
    for (int i = 0; i < 6; i++) {
      order.add(admitOne(s));
    }
    assertEquals(List.of("high1", "high2", "normal1", "normal2", "low1", "low2"), order);
  }

  @Test
  void aWaitingSequenceGainsALevelEveryAgingStepsSoLaterHigherOnesPassItOnlyUntilThen() {
    // priority 0 against a stream of priority 2, aging every 3 steps: the bound is (2 - 0) * 3 = 6
    // steps; only the priority-2 sequences that arrived before step 6 pass it
    Scheduler s = new Scheduler(new BlockAllocator(16), 4, 8, 1, 3);
    s.add(seq("low", 2, 0));
    List<String> order = new ArrayList<>();
    for (int step = 0; step < 20 && !order.contains("low"); step++) {
      assertEquals(step, s.steps());
      s.add(seq("h" + step, 2, 2));
      order.add(admitOne(s));
    }
    assertEquals(List.of("h0", "h1", "h2", "h3", "h4", "h5", "low"), order);
    assertEquals(7, s.steps());
  }

  @Test
  void aPreemptedSequenceKeepsItsArrivalAndResumesBeforeLaterArrivalsOfItsLevel() {
    BlockAllocator blocks = new BlockAllocator(2);
    Scheduler s = new Scheduler(blocks, 4, 8, 8, 1_000);
    s.add(seq("a", 4));
    s.add(seq("b", 4));
    List<Sequence> preempted = new ArrayList<>();
    apply(s.schedule(q -> true, preempted::add)); // one block each, both sample
    s.add(seq("c", 3)); // arrives after b
    apply(s.schedule(q -> true, preempted::add)); // a takes b's block for position 4
    assertEquals(List.of("b"), preempted.stream().map(q -> q.request().id()).toList());
    assertTrue(s.remove(s.running().get(0))); // a finishes: its two blocks are free
    // b (5 tokens, 2 blocks) goes first; c, which arrived later, waits for a block
    assertEquals("b:0+5", describe(s.schedule(q -> true, q -> {})));
    assertEquals(1, s.numWaiting());
  }
}
