package dev.lorastream.engine.sched;

import java.util.Locale;

/**
 * One adapter with work in the engine ({@link Engine#adapterInfo}): how many of its sequences run
 * and wait, and where its weights are. Read by the consumer's per-adapter meters ({@code
 * lorastream.adapter.*}). Requests of the base model (no adapter) are not listed.
 *
 * @param adapterId the adapter id the requests named (the catalog's id)
 * @param running sequences of the adapter admitted and computing
 * @param waiting sequences of the adapter queued: not admitted yet (KV pages, a seat or the adapter
 *     itself not ready), preempted, or submitted and not yet taken in by a step
 * @param tier the nearest tier that holds the adapter for a request admitted now
 */
public record AdapterInfo(String adapterId, int running, int waiting, Tier tier) {
  /** The system property with how often the engine recomputes the snapshot, in milliseconds. */
  public static final String INTERVAL_MS_PROPERTY = "lorastream.metrics.adapter-info-interval-ms";

  /** {@link #INTERVAL_MS_PROPERTY}'s default. */
  public static final long DEFAULT_INTERVAL_MS = 1000;

  /** Where an adapter's weights are, nearest to the compute first. */
  public enum Tier {
    /** In the backend's adapter pool (a slot is written, or being written, for it). */
    BACKEND,
    /** Loaded in host memory (the host tier), not in the backend's pool. */
    HOST,
    /** Being read from its source into host memory. */
    LOADING,
    /** Nowhere: not requested since it was evicted or invalidated, or its load failed. */
    NONE;

    /** The tag value: the name in lower case ({@code backend}, {@code host}, ...). */
    public String tag() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  public AdapterInfo {
    if (adapterId == null || tier == null || running < 0 || waiting < 0) {
      throw new IllegalArgumentException(
          "adapterInfo needs an adapter id, a tier and counts of at least 0, got "
              + adapterId
              + ", "
              + tier
              + ", running "
              + running
              + ", waiting "
              + waiting);
    }
  }

  /** Running plus waiting sequences. */
  public int requests() {
    return running + waiting;
  }

  /**
   * {@link #INTERVAL_MS_PROPERTY}, or its default.
   *
   * @throws IllegalArgumentException when it is not a whole number of at least 0
   */
  static long intervalMsFromProperty() {
    String v = System.getProperty(INTERVAL_MS_PROPERTY);
    if (v == null || v.isBlank()) {
      return DEFAULT_INTERVAL_MS;
    }
    long ms;
    try {
      ms = Long.parseLong(v.trim());
    } catch (NumberFormatException e) {
      ms = -1;
    }
    if (ms < 0) {
      throw new IllegalArgumentException(
          INTERVAL_MS_PROPERTY
              + "="
              + v
              + " is invalid: must be a whole number of milliseconds, at least 0 (0 = every step)");
    }
    return ms;
  }
}
