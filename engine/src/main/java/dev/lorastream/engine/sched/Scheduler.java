package dev.lorastream.engine.sched;

import dev.lorastream.engine.kv.KvBlocks;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;

/**
 * Iteration-level scheduling (Orca, vLLM): each step takes one token of every running sequence in
 * decode plus prefill chunks of new or partly prefilled sequences, within a token budget. Admission
 * is by free KV blocks; when a running sequence needs a block and none is free, the most recently
 * admitted sequence is preempted: its blocks are freed and it is recomputed later from its tokens
 * (prompt plus what it has generated), which leaves its output unchanged.
 *
 * <p>Waiting sequences are admitted by priority ({@link GenerationRequest#priority}): higher first,
 * arrival order within a level. Against starvation a waiting sequence gains one level every {@link
 * #AGING_STEPS} steps it waits (its effective priority is {@code priority + floor(stepsWaited /
 * AGING_STEPS)}; ties go to the earlier arrival, and a preempted sequence keeps its arrival). So a
 * sequence of priority {@code p} that has waited {@code (P - p) * AGING_STEPS} steps is never
 * passed by a sequence of priority at most {@code P} that arrives after that: the later one has
 * waited at least that many steps less, so it is at most as many levels behind in aging as it is
 * ahead in priority, and the tie goes to the earlier arrival.
 *
 * <p>Between tenants ({@link GenerationRequest#tenant}) of equal effective priority the tenant with
 * the lowest fair-share counter goes first ({@link FairShares}, VTC), then arrival; the counters
 * are charged with each step's work as it is chosen, so admissions within one step already see
 * them. The bound above holds within a tenant; across tenants a sequence can also be passed at its
 * own effective level by a later one of a tenant with a lower counter, so it is never passed once
 * it has waited {@code (P - p + 1) * AGING_STEPS} steps. Not thread-safe: the engine thread owns
 * it.
 */
public final class Scheduler {
  /** The system property with {@link #AGING_STEPS}. */
  public static final String AGING_STEPS_PROPERTY = "lorastream.step.priority-aging-steps";

  /** Steps a waiting sequence waits per level it gains (anti-starvation aging); at least 1. */
  public static final int AGING_STEPS = Math.max(1, Integer.getInteger(AGING_STEPS_PROPERTY, 100));

  /**
   * One sequence's share of a step: compute {@code count} tokens starting at {@code seq.computed}.
   */
  public record Work(Sequence seq, int start, int count) {
    /**
     * Whether this chunk reaches the end of the sequence's tokens, so a token is sampled after it.
     */
    public boolean samples() {
      return start + count == seq.length;
    }
  }

  private final KvBlocks blocks;
  private final int blockSize;
  private final int maxTokensPerStep;
  private final int maxSeqs;
  private final int agingSteps;
  private final List<Sequence> waiting = new ArrayList<>(); // in admission order after each step
  private final List<Sequence> running = new ArrayList<>();
  private final TenantServed served = new TenantServed();
  private final FairShares fair;
  private long admissions;
  private long preemptions;
  private long arrivals;
  private long steps; // schedule() calls that chose work

  /**
   * A scheduler with {@link #AGING_STEPS} and the tenant weights of {@link
   * FairShares#WEIGHTS_PROPERTY}.
   *
   * @throws IllegalArgumentException if that property is malformed
   */
  public Scheduler(KvBlocks blocks, int blockSize, int maxTokensPerStep, int maxSeqs) {
    this(
        blocks,
        blockSize,
        maxTokensPerStep,
        maxSeqs,
        AGING_STEPS,
        FairShares.weightsFromProperty());
  }

  /**
   * @param agingSteps steps a waiting sequence waits per priority level it gains (at least 1)
   */
  Scheduler(KvBlocks blocks, int blockSize, int maxTokensPerStep, int maxSeqs, int agingSteps) {
    this(blocks, blockSize, maxTokensPerStep, maxSeqs, agingSteps, Map.of());
  }

  /**
   * @param agingSteps steps a waiting sequence waits per priority level it gains (at least 1)
   * @param tenantWeights tenant → fair-share weight (positive); others weigh 1
   */
  Scheduler(
      KvBlocks blocks,
      int blockSize,
      int maxTokensPerStep,
      int maxSeqs,
      int agingSteps,
      Map<String, Double> tenantWeights) {
    if (agingSteps < 1) {
      throw new IllegalArgumentException("agingSteps must be at least 1, not " + agingSteps);
    }
    this.blocks = blocks;
    this.blockSize = blockSize;
    this.maxTokensPerStep = maxTokensPerStep;
    this.maxSeqs = maxSeqs;
    this.agingSteps = agingSteps;
    this.fair = new FairShares(tenantWeights, served);
  }

  void add(Sequence s) {
    s.arrival = ++arrivals;
    s.arrivalStep = steps;
    s.tenant = fair.arrive(s.request.tenant());
    waiting.add(s);
  }

  /** Tokens served per tenant, for metrics. Thread-safe. */
  public TenantServed served() {
    return served;
  }

  FairShares fairShares() {
    return fair;
  }

  public int numWaiting() {
    return waiting.size();
  }

  public int numRunning() {
    return running.size();
  }

  public long preemptions() {
    return preemptions;
  }

  List<Sequence> running() {
    return running;
  }

  /** Steps that computed something since this scheduler was made. */
  public long steps() {
    return steps;
  }

  Iterable<Sequence> waiting() {
    return waiting;
  }

  void removeWaiting(Sequence s) {
    if (waiting.remove(s)) {
      fair.leave(s.tenant);
    }
  }

  /**
   * Chooses this step's work.
   *
   * @param admit asked once per waiting sequence that could be admitted; returns false to leave it
   *     waiting (e.g. its adapter is still loading) without blocking those behind it; on true the
   *     sequence is admitted
   * @param onPreempt told about each preempted sequence, and about one put back right after its
   *     admission because its adapter took the pages its blocks were counted on (to release its
   *     adapter slot)
   */
  List<Work> schedule(Predicate<Sequence> admit, java.util.function.Consumer<Sequence> onPreempt) {
    List<Work> work = new ArrayList<>();
    int budget = maxTokensPerStep;
    // 1. running sequences, oldest first: decode tokens, then unfinished prefills
    for (int i = 0; i < running.size() && budget > 0; ) {
      Sequence s = running.get(i);
      int count = Math.min(s.pending(), budget);
      if (!reserve(s, count, onPreempt)) {
        if (!running.contains(s)) {
          continue; // s itself was preempted; the list shifted
        }
        break;
      }
      work.add(charge(new Work(s, s.computed, count)));
      budget -= count;
      i++;
    }
    // 2. admit waiting sequences by effective priority, then tenant counter, then arrival, while
    // budget, seats and blocks last. An admission charges its tenant, so the next one compares the
    // tenants' first sequences afresh: within a tenant the order does not change in a step
    Comparator<Sequence> order = admissionOrder();
    waiting.sort(order); // stable and nearly sorted already: about linear
    Map<FairShares.Tenant, ArrayDeque<Sequence>> queues = byTenant();
    Set<Sequence> admitted = Collections.newSetFromMap(new IdentityHashMap<>());
    while (budget > 0 && running.size() < maxSeqs && !queues.isEmpty()) {
      ArrayDeque<Sequence> first = null;
      for (ArrayDeque<Sequence> q : queues.values()) {
        if (first == null || order.compare(q.peekFirst(), first.peekFirst()) < 0) {
          first = q;
        }
      }
      Sequence s = first.peekFirst();
      int count = Math.min(s.pending(), budget);
      int need = Sequence.blocksFor(s.computed + count, blockSize) - s.blocks.size();
      if (need > blocks.numFree()) {
        break; // in order by memory: do not let lower or later ones starve this one
      }
      first.pollFirst();
      if (first.isEmpty()) {
        queues.remove(s.tenant);
      }
      if (!admit.test(s)) {
        continue;
      }
      if (need > blocks.numFree()) { // its adapter took pages the blocks were counted on
        onPreempt.accept(s);
        break;
      }
      admitted.add(s);
      grow(s, s.computed + count);
      s.admitOrder = ++admissions;
      running.add(s);
      work.add(charge(new Work(s, s.computed, count)));
      budget -= count;
    }
    if (!admitted.isEmpty()) {
      waiting.removeIf(admitted::contains);
    }
    if (!work.isEmpty()) {
      steps++;
    }
    return work;
  }

  /** The waiting sequences by tenant, each tenant's in the order of {@link #waiting}. */
  private Map<FairShares.Tenant, ArrayDeque<Sequence>> byTenant() {
    Map<FairShares.Tenant, ArrayDeque<Sequence>> queues = new LinkedHashMap<>();
    for (Sequence q : waiting) {
      queues.computeIfAbsent(q.tenant, t -> new ArrayDeque<>()).add(q);
    }
    return queues;
  }

  /**
   * Charges {@code w}'s service to its sequence's tenant: the prompt tokens it computes for the
   * first time (a recompute after preemption is not charged again) and the token it samples.
   */
  private Work charge(Work w) {
    Sequence s = w.seq();
    int promptEnd = Math.min(w.start() + w.count(), s.promptLength());
    int prompt = Math.max(0, promptEnd - Math.max(w.start(), s.promptCharged));
    s.promptCharged += prompt;
    fair.charge(s.tenant, prompt, w.samples() ? 1 : 0);
    return w;
  }

  /**
   * Higher effective priority first (priority plus one level per {@link #agingSteps} steps waited),
   * then the tenant with the lower fair-share counter, then earlier arrival.
   */
  private Comparator<Sequence> admissionOrder() {
    long now = steps;
    return Comparator.comparingLong((Sequence q) -> -effectivePriority(q, now))
        .thenComparingDouble(q -> q.tenant.counter)
        .thenComparingLong(q -> q.arrival);
  }

  private long effectivePriority(Sequence q, long now) {
    return q.request.priority() + (now - q.arrivalStep) / agingSteps;
  }

  /**
   * Takes a queued or running sequence out: a running one's KV blocks return to the free pool.
   * Returns false when the scheduler does not hold it.
   */
  boolean remove(Sequence s) {
    if (running.remove(s)) {
      blocks.freeAll(s.blocks);
      s.blocks.clear();
      fair.leave(s.tenant);
      return true;
    }
    if (waiting.remove(s)) {
      fair.leave(s.tenant);
      return true;
    }
    return false;
  }

  /**
   * Makes room for {@code count} more tokens of a running sequence, preempting newer ones if
   * needed.
   */
  private boolean reserve(Sequence s, int count, java.util.function.Consumer<Sequence> onPreempt) {
    int need = Sequence.blocksFor(s.computed + count, blockSize) - s.blocks.size();
    while (need > blocks.numFree()) {
      Sequence victim = newestRunning();
      preempt(victim, onPreempt);
      if (victim == s) {
        return false;
      }
    }
    grow(s, s.computed + count);
    return true;
  }

  private Sequence newestRunning() {
    Sequence v = running.get(0);
    for (Sequence r : running) {
      if (r.admitOrder > v.admitOrder) {
        v = r;
      }
    }
    return v;
  }

  private void preempt(Sequence s, java.util.function.Consumer<Sequence> onPreempt) {
    running.remove(s);
    blocks.freeAll(s.blocks);
    s.blocks.clear();
    s.computed = 0;
    s.preemptions++;
    preemptions++;
    onPreempt.accept(s);
    waiting.add(s); // placed by its priority and original arrival at the next admission
  }

  private void grow(Sequence s, int tokens) {
    int need = Sequence.blocksFor(tokens, blockSize);
    while (s.blocks.size() < need) {
      int b = blocks.allocate();
      if (b < 0) {
        throw new IllegalStateException("no free KV block although one was reserved");
      }
      s.blocks.add(b);
    }
  }
}
