package dev.lorastream.engine.sched;

import java.util.List;

/**
 * Which adapters an engine holds ({@link Engine#residency}): the ids whose weights are in the
 * backend's adapter pool, and those loaded in host memory. The consumer publishes it for the
 * batchers' routing, so it is a hint: by the time it is read an adapter may have been evicted or
 * loaded.
 *
 * @param backend ids of the adapters in the backend pool, in slot order: written or being written,
 *     and not invalidated since; at most {@link #MAX_IDS}
 * @param host ids of the adapters loaded in host memory, most recently used first (so the cap keeps
 *     the likeliest to stay); at most {@link #MAX_IDS}
 */
public record AdapterResidency(List<String> backend, List<String> host) {
  /** The most ids either list holds (the {@code ConsumerResidency} record's cap). */
  public static final int MAX_IDS = 4096;

  /** Holds nothing: what {@link Engine#residency} returns before its first step. */
  public static final AdapterResidency EMPTY = new AdapterResidency(List.of(), List.of());

  /** Copies both lists (immutable) and keeps at most {@link #MAX_IDS} ids of each, the first. */
  public AdapterResidency {
    backend = capped(backend);
    host = capped(host);
  }

  private static List<String> capped(List<String> ids) {
    return List.copyOf(ids.size() > MAX_IDS ? ids.subList(0, MAX_IDS) : ids);
  }
}
