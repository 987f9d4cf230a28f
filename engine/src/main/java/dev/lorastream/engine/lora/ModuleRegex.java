package dev.lorastream.engine.lora;

import java.util.regex.Pattern;

/**
 * Full-matches the regexes of one {@code adapter_config.json} ({@code target_modules}, {@code
 * exclude_modules}) against the model's module names under one budget of {@link #MAX_STEPS}
 * character reads, shared by every match of that config.
 *
 * <p>Why: the regex comes from whoever uploaded the adapter, and {@link java.util.regex} backtracks
 * without bound, so {@code "(.*)*x"} against a 30-character module name would take 2^30 steps, once
 * per layer and projection, on the thread that loads adapters. A legitimate PEFT regex reads each
 * name a few times (about 10^5 reads for an 80-layer model); the budget is 100x that, and a regex
 * that exhausts it is refused. Not thread-safe: one per config being loaded.
 */
final class ModuleRegex {

  /** Character reads allowed for all matches of one config (at most about 0.2 s). */
  static final long MAX_STEPS = 10_000_000L;

  /**
   * Longest regex accepted: PEFT's are a few dozen characters; the cap keeps the recursion of
   * {@link Pattern} (one frame per nested group) far from the thread's stack size.
   */
  static final int MAX_LENGTH = 1_000;

  /** Thrown by {@link #fullMatch} once the budget is spent; no stack trace. */
  static final class Exhausted extends RuntimeException {
    Exhausted() {
      super("regex step budget of " + MAX_STEPS + " character reads exhausted", null, false, false);
    }
  }

  private long left = MAX_STEPS;

  /**
   * Whether {@code re} matches all of {@code name} ({@code re.fullmatch}, as PEFT does).
   *
   * @throws Exhausted when this config's budget runs out during the match
   */
  boolean fullMatch(Pattern re, String name) {
    return re.matcher(new Counted(name)).matches();
  }

  /** {@code name} as a {@link CharSequence} that charges every character read to the budget. */
  private final class Counted implements CharSequence {
    private final String s;

    Counted(String s) {
      this.s = s;
    }

    @Override
    public int length() {
      return s.length();
    }

    @Override
    public char charAt(int index) {
      if (--left < 0) {
        throw new Exhausted();
      }
      return s.charAt(index);
    }

    @Override
    public CharSequence subSequence(int start, int end) {
      return new Counted(s.substring(start, end));
    }

    @Override
    public String toString() {
      return s;
    }
  }
}
