package dev.lorastream.engine.sched;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.engine.kv.BlockAllocator;
import dev.lorastream.engine.sample.SamplingParams;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

/** VTC fair shares between tenants in the scheduler's admission ({@link FairShares}). */
class SchedulerFairnessTest {
  private static Sequence seq(String id, String tenant, int prompt, int generate, int priority) {
    return new Sequence(
        new GenerationRequest(
            id, new int[prompt], null, SamplingParams.greedy(generate), priority, 0, tenant),
        new CompletableFuture<>(),
        0);
  }

  private static Sequence seq(String id, String tenant, int prompt, int generate) {
    return seq(id, tenant, prompt, generate, 0);
  }

  /** Plenty of KV blocks and a budget that prefills any prompt here in one chunk. */
  private static Scheduler scheduler(int seats, Map<String, Double> weights) {
    return new Scheduler(new BlockAllocator(4096), 4, 1024, seats, 1_000_000, weights);
  }

  /**
   * Runs up to {@code steps} steps as the engine would (chunks computed, a token sampled where one
   * ends, a sequence finished at its max tokens) and returns the ids in the order they were
   * admitted.
   */
  private static List<String> run(Scheduler s, int steps) {
    List<String> admitted = new ArrayList<>();
    for (int i = 0; i < steps; i++) {
      List<Scheduler.Work> work = s.schedule(q -> true, q -> {});
      if (work.isEmpty()) {
        break;
      }
      for (Scheduler.Work w : work) {
        Sequence q = w.seq();
        if (w.start() == 0) {
          admitted.add(q.request().id());
        }
        q.computed = w.start() + w.count();
        if (w.samples()) {
          q.append(7);
          if (q.generated() >= q.request().params().maxTokens()) {
            assertTrue(s.remove(q));
          }
        }
      }
    }
    return admitted;
  }

  /** The tenant's served tokens weighted as VTC counts them (w_p = 1, w_q = 2). */
  private static double weighted(Scheduler s, String tenant) {
    TenantServed.Tokens t = s.served().tokens(tenant);
    return FairShares.PROMPT_WEIGHT * t.prompt() + FairShares.GENERATED_WEIGHT * t.generated();
  }

  private static List<String> tenantsOf(List<String> ids) {
    return ids.stream().map(id -> id.substring(0, 1)).toList();
  }

  @Test
  void aBurstOfOneTenantAlternatesWithAnotherInsteadOfGoingFirstInFifoOrder() {
    Scheduler s = scheduler(1, Map.of());
    for (int i = 1; i <= 6; i++) {
      s.add(seq("b" + i, "big", 2, 3)); // every request costs 2 * 1 + 3 * 2 = 8
    }
    s.add(seq("s1", "small", 2, 3));
    s.add(seq("s2", "small", 2, 3));
    // counters tie at 0, then 8: the earlier arrival goes first on a tie
    assertEquals(List.of("b1", "s1", "b2", "s2", "b3", "b4", "b5", "b6"), run(s, 1000));
    assertEquals(new TenantServed.Tokens(12, 18), s.served().tokens("big"));
    assertEquals(new TenantServed.Tokens(4, 6), s.served().tokens("small"));
  }

  @Test
  void admissionsWithinOneStepSeeTheCountersChargedByTheEarlierOnes() {
    Scheduler s = scheduler(4, Map.of());
    for (int i = 1; i <= 6; i++) {
      s.add(seq("b" + i, "big", 2, 3));
    }
    s.add(seq("s1", "small", 2, 3));
    s.add(seq("s2", "small", 2, 3));
    // b1's admission charges big 2 + 1 * 2 = 4 before the second seat is filled
    assertEquals(List.of("b1", "s1", "b2", "s2"), run(s, 1));
  }

  @Test
  void aTenantWithTenTimesTheRequestsGetsNoMoreThanItsFairShareWhileAllAreBacklogged() {
    Scheduler s = scheduler(3, Map.of());
    String[] tenants = {"h", "p", "q", "r", "t"};
    for (int i = 0; i < 600; i++) {
      s.add(seq("h" + i, "h", 9, 3)); // long prompts, short answers: 9 + 3 * 2 = 15 per request
    }
    for (int i = 0; i < 60; i++) {
      s.add(seq("p" + i, "p", 3, 6)); // 15 per request
      s.add(seq("q" + i, "q", 2, 4)); // 10 per request: 600 in all, the least
      s.add(seq("r" + i, "r", 10, 5)); // 20 per request
      s.add(seq("t" + i, "t", 5, 5)); // 15 per request
    }
    // stop while every tenant is still backlogged: at 1500 in all, q has had about half of its 600
    double total = 0;
    int steps = 0;
    while (total < 1500) {
      run(s, 1);
      steps++;
      total = 0;
      for (String t : tenants) {
        total += weighted(s, t);
      }
    }
    double fair = total / tenants.length;
    for (String t : tenants) {
      double share = weighted(s, t);
      assertTrue(
          Math.abs(share - fair) <= 0.2 * fair,
          t + " got " + share + " of " + total + " after " + steps + " steps; fair is " + fair);
    }
    assertTrue(weighted(s, "q") < 600, "q is still backlogged");
  }

  @Test
  void weightsTwoToOneGiveTwiceTheServiceToTheHeavierTenant() {
    Scheduler s = scheduler(1, Map.of("gold", 2.0));
    for (int i = 1; i <= 60; i++) {
      s.add(seq("g" + i, "gold", 2, 3));
    }
    for (int i = 1; i <= 60; i++) {
      s.add(seq("p" + i, "plain", 2, 3));
    }
    List<String> order = run(s, 4 * 60); // each request takes 3 steps with one seat: 80 requests
    assertEquals(
        List.of("g", "p", "g", "g", "p", "g", "g", "p", "g"), tenantsOf(order.subList(0, 9)));
    double ratio = weighted(s, "gold") / weighted(s, "plain");
    assertTrue(Math.abs(ratio - 2) <= 0.1, "gold / plain service is " + ratio + ", not 2");
  }

  @Test
  void aTenantReturningFromIdleIsLiftedToTheActiveMinimumAndGetsNoBurst() {
    Scheduler s = scheduler(1, Map.of());
    s.add(seq("i0", "idle", 2, 3));
    for (int i = 1; i <= 30; i++) {
      s.add(seq("a" + i, "a", 2, 3));
      s.add(seq("b" + i, "b", 2, 3));
    }
    run(s, 3 * 21); // i0 then a and b alternately, ten requests each
    FairShares fair = s.fairShares();
    assertEquals(8, fair.counter("idle"));
    assertEquals(80, fair.counter("a"));
    assertEquals(80, fair.counter("b"));
    for (int i = 1; i <= 4; i++) {
      s.add(seq("i" + i, "idle", 2, 3));
    }
    assertEquals(80, fair.counter("idle"), "lifted to the lowest active counter, not left at 8");
    // without the lift idle's four would all go next; with it idle takes turns with a and b
    assertEquals(List.of("a", "b", "i", "a", "b", "i"), tenantsOf(run(s, 3 * 6)));
  }

  @Test
  void aTenantArrivingWhenNoneIsActiveIsLiftedToTheLastOneThatLeft() {
    Scheduler s = scheduler(1, Map.of());
    s.add(seq("x1", "x", 4, 4)); // 4 + 8 = 12
    run(s, 100);
    assertEquals(0, s.fairShares().activeTenants());
    s.add(seq("y1", "y", 1, 1));
    assertEquals(12, s.fairShares().counter("y"));
  }

  @Test
  void priorityStillGoesBeforeTheTenantWithTheLowerCounter() {
    Scheduler s = scheduler(1, Map.of());
    s.add(seq("h1", "heavy", 20, 3, 0)); // 20 + 3 * 2 = 26
    s.add(seq("l1", "light", 2, 3, 0)); // 8
    s.add(seq("l2", "light", 2, 3, 0));
    assertEquals(List.of("h1", "l1"), run(s, 3 * 2));
    assertEquals(26, s.fairShares().counter("heavy"));
    assertEquals(8, s.fairShares().counter("light"));
    s.add(seq("urgent", "heavy", 2, 3, 5));
    s.add(seq("later", "heavy", 2, 3, 0));
    assertEquals(List.of("urgent", "l2", "later"), run(s, 100));
  }

  @Test
  void requestsOfNoTenantShareOneAnonymousTenantAndKeepArrivalOrder() {
    Scheduler s = scheduler(1, Map.of());
    s.add(seq("n1", null, 2, 3));
    s.add(seq("n2", null, 2, 3));
    s.add(seq("x1", "x", 2, 3));
    assertEquals(List.of("n1", "x1", "n2"), run(s, 100));
    assertEquals(new TenantServed.Tokens(4, 6), s.served().tokens(TenantServed.NONE));
  }

  @Test
  void aPreemptedSequenceIsNotChargedAgainForTheTokensItRecomputes() {
    Scheduler s = new Scheduler(new BlockAllocator(2), 4, 64, 8, 1_000, Map.of());
    s.add(seq("a", "t", 4, 8));
    s.add(seq("b", "t", 4, 8));
    List<Sequence> preempted = new ArrayList<>();
    for (Scheduler.Work w : s.schedule(q -> true, preempted::add)) {
      w.seq().computed = w.start() + w.count();
      w.seq().append(7);
    }
    s.schedule(q -> true, preempted::add); // b is preempted; a decodes one token
    assertEquals(1, preempted.size());
    assertTrue(s.remove(s.running().get(0)));
    s.schedule(q -> true, preempted::add); // b recomputes its 5 tokens and samples one
    // prompts 4 + 4 once; tokens sampled: a 2, b 2 (one before and one after the preemption)
    assertEquals(new TenantServed.Tokens(8, 4), s.served().tokens("t"));
  }
}
