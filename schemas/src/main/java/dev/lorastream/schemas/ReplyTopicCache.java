package dev.lorastream.schemas;

import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.LongSupplier;

/**
 * Remembers what another {@link ReplyTopics} said, so that a writer asks the cluster about a reply
 * topic at most once per {@code existsTtlMs} (topic there) or {@code missingTtlMs} (any other
 * answer).
 *
 * <p>The two lifetimes differ on purpose. A topic that exists rarely disappears, so a long one
 * saves round trips; should it be deleted meanwhile, the one failing write aborts the transaction,
 * the writer calls {@link #forgetAll} (the batcher when it replaces the failed stream thread, the
 * inference consumer when it aborts a transaction), and the retried work is checked afresh and
 * answered with an error. A missing topic is asked about again soon, so one that a tenant has just
 * created is usable within {@code missingTtlMs}, while a flood of requests naming a missing topic
 * still costs one lookup per {@code missingTtlMs}. A lookup that throws is not remembered.
 *
 * <p>At most {@link #MAX_ENTRIES} answers are kept (tenantIds come from clients, so the set of
 * allowed topic names is open): past that, expired answers are dropped, and if that is not enough,
 * all of them.
 *
 * <p>Thread-safe (the batcher's stream threads share one instance). Two threads may look the same
 * topic up at once; both answers are correct.
 */
public final class ReplyTopicCache implements ReplyTopics {

  /** Most answers remembered at once. */
  public static final int MAX_ENTRIES = 10_000;

  /**
   * Default of {@code existsTtlMs}, for every service that checks reply topics (batcher and
   * consumer).
   */
  public static final long DEFAULT_EXISTS_TTL_MS = 30_000;

  /**
   * Default of {@code missingTtlMs}: a reply topic created just now is usable after at most this
   * long.
   */
  public static final long DEFAULT_MISSING_TTL_MS = 1_000;

  private record Answer(State state, long expiresAtMs) {}

  private final ReplyTopics source;
  private final long existsTtlMs;
  private final long missingTtlMs;
  private final LongSupplier clockMs;
  private final Map<String, Answer> answers = new ConcurrentHashMap<>();

  /**
   * @param source asked on a miss or once an answer has expired
   * @param clockMs a monotonic clock in milliseconds
   */
  public ReplyTopicCache(
      ReplyTopics source, long existsTtlMs, long missingTtlMs, LongSupplier clockMs) {
    this.source = Objects.requireNonNull(source);
    this.existsTtlMs = existsTtlMs;
    this.missingTtlMs = missingTtlMs;
    this.clockMs = clockMs;
  }

  /** A cache on the JVM's monotonic clock; a lifetime of 0 means ask every time. */
  public static ReplyTopicCache of(ReplyTopics source, long existsTtlMs, long missingTtlMs) {
    return new ReplyTopicCache(
        source, existsTtlMs, missingTtlMs, () -> System.nanoTime() / 1_000_000);
  }

  @Override
  public State state(String topic) {
    long now = clockMs.getAsLong();
    Answer a = answers.get(topic);
    if (a != null && now < a.expiresAtMs()) {
      return a.state();
    }
    State s = source.state(topic);
    if (answers.size() >= MAX_ENTRIES) {
      answers.values().removeIf(old -> now >= old.expiresAtMs());
      if (answers.size() >= MAX_ENTRIES) {
        answers.clear();
      }
    }
    answers.put(topic, new Answer(s, now + (s == State.EXISTS ? existsTtlMs : missingTtlMs)));
    return s;
  }

  /** Answers held now (for tests). */
  int size() {
    return answers.size();
  }

  /** Drops every answer: the next question about each topic goes to the source. */
  public void forgetAll() {
    answers.clear();
  }
}
