package dev.lorastream.schemas;

import java.util.Optional;

/**
 * The wire range of {@link InferenceRequest#getPriority}, written once for the batcher's admission,
 * the inference consumer's intake and the clients that choose a default. Higher runs first; the
 * engine's scheduler orders waiting requests by it, arrival order within a level, and ages waiting
 * requests so that none starves (docs/design.md, Priority).
 */
public final class Priorities {
  private Priorities() {}

  /** The lowest priority accepted. */
  public static final int MIN = -10;

  /** The highest priority accepted. */
  public static final int MAX = 10;

  /** Online traffic: the schema's default. */
  public static final int ONLINE = 0;

  /** What the bulk tool sends unless told otherwise: below online traffic. */
  public static final int BULK = -5;

  /** The problem of {@code priority}, for a person to act on, or empty when it is in range. */
  public static Optional<String> problem(int priority) {
    if (priority < MIN || priority > MAX) {
      return Optional.of(
          "priority="
              + priority
              + " is out of range: must be in ["
              + MIN
              + ", "
              + MAX
              + "] (higher runs first; "
              + ONLINE
              + " = normal)");
    }
    return Optional.empty();
  }
}
