package dev.lorastream.consumer;

import dev.lorastream.schemas.FinishReason;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.TenantUsage;
import dev.lorastream.schemas.Topics;
import dev.lorastream.schemas.UsageKey;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.apache.kafka.clients.producer.ProducerRecord;

/**
 * This consumer's running usage counts ({@link TenantUsage}) per tenant, adapter and hour, written
 * to {@link Topics#USAGE} in the transaction of the results they count.
 *
 * <p>Exactly once: a release {@link #stage}s the new cumulative counts of the keys its results
 * touch without changing the ledger; the records go into the release's transaction; only after it
 * commits does {@link #commit} make them the ledger's. An aborted transaction leaves the ledger as
 * it was, so the retry counts the same results again from the same base. At start the ledger is
 * {@link #restore}d from this consumer's own committed records (read_committed, after {@code
 * initTransactions} fenced any older instance), so counting resumes where the last commit left it.
 * Only the current and the previous window are kept: results are counted in the window of their
 * commit, so older windows never change again.
 *
 * <p>Not thread-safe: the release thread owns it.
 */
final class UsageLedger {
  /** The counts of one key. */
  record Counts(long requests, long errors, long promptTokens, long completionTokens) {
    Counts plus(InferenceResult r) {
      return new Counts(
          requests + 1,
          errors + (r.getFinishReason() == FinishReason.ERROR ? 1 : 0),
          promptTokens + r.getUsage().getPromptTokens(),
          completionTokens + r.getUsage().getCompletionTokens());
    }
  }

  static final Counts ZERO = new Counts(0, 0, 0, 0);

  /** A release's new counts, not yet the ledger's. */
  record Staged(Map<UsageKey, Counts> counts, List<ProducerRecord<String, TenantUsage>> records) {}

  private final String consumerId;
  private final String topic;
  private final Function<String, String> tenantTopic;
  private final Map<UsageKey, Counts> counts = new HashMap<>();

  UsageLedger(String consumerId, String topic) {
    this(consumerId, topic, tenant -> null);
  }

  /**
   * @param tenantTopic the topic that also gets a tenant's records (topics tenancy: {@code
   *     lora.tenant.<t>.usage}, which that tenant may read), or null for none (shared tenancy, or a
   *     topic that cannot be written: a write to it would fail the whole transaction)
   */
  UsageLedger(String consumerId, String topic, Function<String, String> tenantTopic) {
    this.consumerId = consumerId;
    this.topic = topic;
    this.tenantTopic = tenantTopic;
  }

  /** Takes this consumer's committed records (others' and other windows' are ignored). */
  void restore(Iterable<TenantUsage> committed, long nowMs) {
    for (TenantUsage u : committed) {
      if (u.getConsumerId().equals(consumerId) && current(u.getWindowStartEpochMs(), nowMs)) {
        counts.put(
            UsageKey.of(u),
            new Counts(
                u.getRequests(), u.getErrors(), u.getPromptTokens(), u.getCompletionTokens()));
      }
    }
  }

  /**
   * The cumulative counts, and their records, of every key {@code results} touch, counted in the
   * window of {@code nowMs}; the ledger is unchanged until {@link #commit}.
   */
  Staged stage(List<InferenceResult> results, long nowMs) {
    long window = UsageKey.windowStart(nowMs);
    Map<UsageKey, Counts> next = new LinkedHashMap<>();
    for (InferenceResult r : results) {
      UsageKey k = new UsageKey(consumerId, window, r.getTenantId().toString(), adapter(r));
      next.put(k, next.getOrDefault(k, counts.getOrDefault(k, ZERO)).plus(r));
    }
    List<ProducerRecord<String, TenantUsage>> records = new ArrayList<>(next.size());
    next.forEach(
        (k, c) -> {
          TenantUsage value =
              TenantUsage.newBuilder()
                  .setTenantId(k.tenantId())
                  .setAdapterId(k.adapterId())
                  .setWindowStartEpochMs(k.windowStartEpochMs())
                  .setWindowMs(UsageKey.WINDOW_MS)
                  .setConsumerId(consumerId)
                  .setRequests(c.requests())
                  .setErrors(c.errors())
                  .setPromptTokens(c.promptTokens())
                  .setCompletionTokens(c.completionTokens())
                  .setUpdatedEpochMs(nowMs)
                  .build();
          records.add(new ProducerRecord<>(topic, k.encode(), value));
          String own = tenantTopic.apply(k.tenantId());
          if (own != null) {
            records.add(new ProducerRecord<>(own, k.encode(), value));
          }
        });
    return new Staged(next, records);
  }

  /** Makes a committed release's counts the ledger's, and forgets windows that cannot change. */
  void commit(Staged s, long nowMs) {
    counts.putAll(s.counts());
    counts.keySet().removeIf(k -> !current(k.windowStartEpochMs(), nowMs));
  }

  /** The counts of {@code key} (tests). */
  Counts get(UsageKey key) {
    return counts.getOrDefault(key, ZERO);
  }

  /** Keys held (tests). */
  int size() {
    return counts.size();
  }

  private static boolean current(long windowStart, long nowMs) {
    return windowStart >= UsageKey.windowStart(nowMs) - UsageKey.WINDOW_MS;
  }

  private static String adapter(InferenceResult r) {
    return r.getAdapterId() == null ? null : r.getAdapterId().toString();
  }
}
