package dev.lorastream.engine.sched;

import java.util.Arrays;
import java.util.List;

/**
 * A request's stop strings, found in its generated text by decoding a window of the last tokens
 * each step rather than all of them (which made a generation of n tokens decode O(n²) tokens).
 * Immutable.
 *
 * <p>The result is the one of decoding everything after every token: the generated text cut before
 * the first occurrence of the first listed stop string that occurs in it. Why a window gives the
 * same answer: the check runs after every token, so before this token no stop string occurred, and
 * one that occurs now reaches into text this token changed. Let {@code tail} be the decode of the
 * window {@code [w, n)}, {@code prev} that of {@code [w, n-1)} and {@code c} the length of their
 * common prefix: the change starts there (a token can change text before its own: completing a
 * UTF-8 character turns the U+FFFD of its first bytes into the character), so an occurrence of
 * {@code s} now starts in {@code tail} at or after {@code c - |s| + 1}. Past its leading U+FFFDs a
 * window's text is the end of the full text. Byte-level BPE: UTF-8 resynchronizes at the first byte
 * that starts a character, and the bytes of a character cut by the window start decode as U+FFFD.
 * SentencePiece byte fallback: a run of byte tokens cut by the window start decodes as U+FFFDs, or
 * is valid on its own where the full text may show U+FFFDs instead (no stop string without U+FFFD
 * occurs there, and a match the window sees there is rejected by the check below); the leading
 * space the window drops only shortens it. Hence:
 *
 * <ul>
 *   <li>{@code tail} equals {@code prev}: the token changed no text (a special token; a byte that
 *       leaves a character incomplete), nothing new can occur;
 *   <li>{@code c >= f + GUARD + longest - 1}, {@code f} the leading U+FFFDs of {@code tail}: every
 *       candidate start lies past them and a margin of {@link #GUARD} chars; look for the stop
 *       strings from there;
 *   <li>otherwise the window doubles, up to all tokens.
 * </ul>
 *
 * A match in a window is checked on the full text, which also gives the cut text, so the text is
 * always the full decode's; that costs one full decode per stop string found. Stop strings
 * containing U+FFFD (what a cut character decodes to) are looked for in the full text every step.
 */
final class StopStrings {
  /**
   * Chars after a window's leading U+FFFDs in which no stop string starts (a margin, see above).
   */
  static final int GUARD = 4;

  /** Tokens in the first window tried, beyond the longest stop string and the guard. */
  static final int SLACK = 8;

  private static final char REPLACEMENT = '\uFFFD';

  private final List<String> stops;
  private final int longest; // chars (UTF-16 units) of the longest stop string
  private final boolean fullTextOnly; // a stop string contains U+FFFD

  StopStrings(List<String> stops) {
    this.stops = List.copyOf(stops);
    this.longest = this.stops.stream().mapToInt(String::length).max().orElse(0);
    this.fullTextOnly = this.stops.stream().anyMatch(s -> s.indexOf(REPLACEMENT) >= 0);
  }

  /** Tokens in the first window tried. */
  int firstWindow() {
    return longest + GUARD + SLACK;
  }

  /**
   * Call after each token appended to the generated tokens {@code tokens[from, to)}: the generated
   * text cut before the stop string it now holds, or null when it holds none.
   */
  String cut(TokenDecoder decoder, int[] tokens, int from, int to) {
    if (!fullTextOnly) {
      for (int window = firstWindow(); window < to - from; window *= 2) {
        int w = to - window;
        String tail = decoder.decode(Arrays.copyOfRange(tokens, w, to));
        String prev = decoder.decode(Arrays.copyOfRange(tokens, w, to - 1));
        if (tail.equals(prev)) {
          return null;
        }
        int common = commonPrefix(prev, tail);
        if (common >= leadingReplacements(tail) + GUARD + longest - 1) {
          return occursFrom(tail, common) ? cutFullText(decoder, tokens, from, to) : null;
        }
      }
    }
    return cutFullText(decoder, tokens, from, to);
  }

  /** Whether a stop string starts in {@code tail} at or after {@code common - |s| + 1}. */
  private boolean occursFrom(String tail, int common) {
    for (String s : stops) {
      if (tail.indexOf(s, common - s.length() + 1) >= 0) {
        return true;
      }
    }
    return false;
  }

  /**
   * The check on the full text: the first listed stop string that occurs, cut at its first
   * occurrence.
   */
  private String cutFullText(TokenDecoder decoder, int[] tokens, int from, int to) {
    String text = decoder.decode(Arrays.copyOfRange(tokens, from, to));
    for (String s : stops) {
      int at = text.indexOf(s);
      if (at >= 0) {
        return text.substring(0, at);
      }
    }
    return null;
  }

  private static int leadingReplacements(String s) {
    int i = 0;
    while (i < s.length() && s.charAt(i) == REPLACEMENT) {
      i++;
    }
    return i;
  }

  private static int commonPrefix(String a, String b) {
    int n = Math.min(a.length(), b.length());
    int i = 0;
    while (i < n && a.charAt(i) == b.charAt(i)) {
      i++;
    }
    return i;
  }
}
