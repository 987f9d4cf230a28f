package dev.lorastream.engine.sched;

import dev.lorastream.engine.kv.BlockAllocator;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
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
 * ahead in priority, and the tie goes to the earlier arrival. Not thread-safe: the engine thread
 * owns it.
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

  private final BlockAllocator blocks;
  private final int blockSize;
  private final int maxTokensPerStep;
  private final int maxSeqs;
  private final int agingSteps;
  private final List<Sequence> waiting = new ArrayList<>(); // in admission order after each step
  private final List<Sequence> running = new ArrayList<>();
  private long admissions;
  private long preemptions;
  private long arrivals;
  private long steps; // schedule() calls that chose work

  public Scheduler(BlockAllocator blocks, int blockSize, int maxTokensPerStep, int maxSeqs) {
    this(blocks, blockSize, maxTokensPerStep, maxSeqs, AGING_STEPS);
  }

  /**
   * @param agingSteps steps a waiting sequence waits per priority level it gains (at least 1)
   */
  Scheduler(
      BlockAllocator blocks, int blockSize, int maxTokensPerStep, int maxSeqs, int agingSteps) {
    if (agingSteps < 1) {
      throw new IllegalArgumentException("agingSteps must be at least 1, not " + agingSteps);
    }
    this.blocks = blocks;
    this.blockSize = blockSize;
    this.maxTokensPerStep = maxTokensPerStep;
    this.maxSeqs = maxSeqs;
    this.agingSteps = agingSteps;
  }

  void add(Sequence s) {
    s.arrival = ++arrivals;
    s.arrivalStep = steps;
    waiting.add(s);
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
    waiting.remove(s);
  }

  /**
   * Chooses this step's work.
   *
   * @param admit asked once per waiting sequence that could be admitted; returns false to leave it
   *     waiting (e.g. its adapter is still loading) without blocking those behind it; on true the
   *     sequence is admitted
   * @param onPreempt told about each preempted sequence (to release its adapter slot)
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
      work.add(new Work(s, s.computed, count));
      budget -= count;
      i++;
    }
    // 2. admit waiting sequences by effective priority while budget, seats and blocks last
    waiting.sort(admissionOrder()); // stable and nearly sorted already: about linear
    for (Iterator<Sequence> it = waiting.iterator();
        it.hasNext() && budget > 0 && running.size() < maxSeqs; ) {
      Sequence s = it.next();
      int count = Math.min(s.pending(), budget);
      int need = Sequence.blocksFor(s.computed + count, blockSize) - s.blocks.size();
      if (need > blocks.numFree()) {
        break; // in order by memory: do not let lower or later ones starve this one
      }
      if (!admit.test(s)) {
        continue;
      }
      it.remove();
      grow(s, s.computed + count);
      s.admitOrder = ++admissions;
      running.add(s);
      work.add(new Work(s, s.computed, count));
      budget -= count;
    }
    if (!work.isEmpty()) {
      steps++;
    }
    return work;
  }

  /**
   * Higher effective priority first (priority plus one level per {@link #agingSteps} steps waited),
   * then earlier arrival.
   */
  private java.util.Comparator<Sequence> admissionOrder() {
    long now = steps;
    return java.util.Comparator.comparingLong((Sequence q) -> -effectivePriority(q, now))
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
      return true;
    }
    return waiting.remove(s);
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
