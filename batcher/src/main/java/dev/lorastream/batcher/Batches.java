package dev.lorastream.batcher;

import dev.lorastream.schemas.FlushReason;
import dev.lorastream.schemas.InferenceBatch;
import dev.lorastream.schemas.InferenceRequest;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/** Pure functions that turn buffered requests into an {@link InferenceBatch}. */
final class Batches {

  /**
   * Base-model rows (adapterId null) first, then by adapterId; stable, so rows of one adapter keep
   * arrival order. Each adapter's rows are then one contiguous segment (what SGMV kernels want).
   */
  static final Comparator<InferenceRequest> BY_ADAPTER =
      Comparator.comparing(
          InferenceRequest::getAdapterId, Comparator.nullsFirst(Comparator.naturalOrder()));

  private Batches() {}

  /** Token budget one request uses: prompt tokens + sampling.maxTokens. */
  static int tokens(InferenceRequest r) {
    return r.getPromptTokenIds().size() + r.getSampling().getMaxTokens();
  }

  /**
   * @param arrivalOrder the rows as they were buffered (not empty)
   * @return the batch: rows sorted by {@link #BY_ADAPTER}, distinct adapters in row order, total
   *     tokens, and the dominant adapter as affinity key
   */
  static InferenceBatch build(
      String batchId, List<InferenceRequest> arrivalOrder, FlushReason reason, long nowMs) {
    List<InferenceRequest> rows = new ArrayList<>(arrivalOrder);
    rows.sort(BY_ADAPTER);
    LinkedHashSet<String> adapterIds = new LinkedHashSet<>();
    int total = 0;
    for (InferenceRequest r : rows) {
      if (r.getAdapterId() != null) {
        adapterIds.add(r.getAdapterId());
      }
      total += tokens(r);
    }
    return InferenceBatch.newBuilder()
        .setBatchId(batchId)
        .setCreatedEpochMs(nowMs)
        .setRequests(rows)
        .setAdapterIds(new ArrayList<>(adapterIds))
        .setTotalTokens(total)
        .setAffinityKey(dominantAdapter(rows))
        .setFlushReason(reason)
        .build();
  }

  /**
   * The adapter with the most rows (ties: the smallest id), so the consumer whose cache holds it
   * gets the batch; null when every row is a base-model row (then the batch is routed by load
   * alone).
   */
  static String dominantAdapter(List<InferenceRequest> rows) {
    Map<String, Integer> counts = new TreeMap<>();
    rows.stream()
        .map(InferenceRequest::getAdapterId)
        .filter(Objects::nonNull)
        .forEach(a -> counts.merge(a, 1, Integer::sum));
    String best = null;
    int bestCount = 0;
    for (var e : counts.entrySet()) { // ascending ids: strict '>' keeps the smallest on ties
      if (e.getValue() > bestCount) {
        best = e.getKey();
        bestCount = e.getValue();
      }
    }
    return best;
  }

  /**
   * Whether the batch shows its adapter is hot: it was closed because it was full (token budget or
   * request count) and every row used that one adapter.
   */
  static boolean isHot(InferenceBatch b) {
    boolean full =
        b.getFlushReason() == FlushReason.TOKEN_BUDGET
            || b.getFlushReason() == FlushReason.MAX_REQUESTS;
    return full
        && b.getAffinityKey() != null
        && b.getRequests().stream().allMatch(r -> b.getAffinityKey().equals(r.getAdapterId()));
  }
}
