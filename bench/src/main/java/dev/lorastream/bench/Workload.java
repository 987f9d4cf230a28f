package dev.lorastream.bench;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * The requests of one benchmark run: offline bulk arrival (everything at t = 0), fixed prompt and
 * output lengths, adapters drawn per {@link BenchMode}. Deterministic in the seed: every mode gets
 * the same prompts, and {@code hetero:N} and {@code serial:N} get the same request → adapter
 * assignment, so they differ only in how the requests are batched.
 *
 * @param promptLen tokens per prompt
 * @param maxTokens tokens generated per request (no stop tokens)
 * @param items the requests in submission order
 */
public record Workload(int promptLen, int maxTokens, List<Item> items) {

  /**
   * One request.
   *
   * @param prompt {@code [promptLen]} token ids
   * @param adapterId adapter directory name, or null for the base model
   */
  public record Item(String id, int[] prompt, String adapterId) {}

  public Workload {
    items = List.copyOf(items);
  }

  /**
   * @param adapterIds available adapters in order; mode {@code N} draws from the first N
   * @param vocab prompt tokens are drawn from {@code [minToken, vocab)}
   */
  public static Workload generate(
      BenchMode mode,
      List<String> adapterIds,
      int requests,
      int promptLen,
      int maxTokens,
      int vocab,
      long seed) {
    if (mode.usesLora() && mode.n() > adapterIds.size()) {
      throw new IllegalArgumentException(
          "mode "
              + mode
              + " needs "
              + mode.n()
              + " adapters but only "
              + adapterIds.size()
              + " are present");
    }
    SplittableRandom prompts = new SplittableRandom(seed);
    SplittableRandom draws = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + mode.n());
    int minToken = Math.min(3, vocab - 1); // keep clear of the usual pad/bos/eos ids
    List<Item> items = new ArrayList<>(requests);
    for (int i = 0; i < requests; i++) {
      int[] p = new int[promptLen]; // [promptLen]
      for (int j = 0; j < promptLen; j++) {
        p[j] = prompts.nextInt(minToken, vocab);
      }
      String adapter =
          switch (mode.kind()) {
            case BASE -> null;
            case ADAPTER1 -> adapterIds.get(0);
            case HETERO, SERIAL -> adapterIds.get(draws.nextInt(mode.n()));
          };
      items.add(new Item("r" + i, p, adapter));
    }
    return new Workload(promptLen, maxTokens, items);
  }

  /** Requests grouped by adapter, groups in order of first appearance (adapter-serial batching). */
  public List<List<Item>> byAdapter() {
    Map<String, List<Item>> groups = new LinkedHashMap<>();
    for (Item it : items) {
      groups.computeIfAbsent(String.valueOf(it.adapterId()), k -> new ArrayList<>()).add(it);
    }
    return List.copyOf(groups.values());
  }

  /** Distinct adapters over the whole workload. */
  public int distinctAdapters() {
    return (int) items.stream().map(Item::adapterId).filter(a -> a != null).distinct().count();
  }
}
