package dev.lorastream.schemas.registry;

import java.util.List;

/**
 * Whether a candidate schema may be registered under a subject.
 *
 * @param compatible true when it may
 * @param messages what is incompatible, for a person (empty when compatible, or when the registry
 *     gave no detail)
 */
public record CompatibilityResult(boolean compatible, List<String> messages) {
  public CompatibilityResult {
    messages = List.copyOf(messages);
  }

  public static CompatibilityResult ok() {
    return new CompatibilityResult(true, List.of());
  }
}
