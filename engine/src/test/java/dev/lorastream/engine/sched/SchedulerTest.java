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
}
