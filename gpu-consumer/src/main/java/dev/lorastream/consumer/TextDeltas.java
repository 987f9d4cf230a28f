package dev.lorastream.consumer;

import dev.lorastream.engine.sched.TokenDecoder;
import java.util.Arrays;
import java.util.List;

/**
 * Incremental decoding of one request's generated tokens into text pieces for {@link
 * dev.lorastream.schemas.StreamChunk}s: the pieces concatenate to a prefix of the final text. Text
 * is held back while it ends inside a UTF-8 character (the decoder's U+FFFD for an incomplete
 * sequence) or with the start of one of the request's stop strings, and cut before a whole stop
 * string (as {@code InferenceResult.text} is). Each call decodes all tokens so far (O(n) per token,
 * a small cost next to a model step). Not thread-safe: the engine thread owns it.
 */
final class TextDeltas {
  private final TokenDecoder decoder;
  private final List<String> stops;
  private int[] tokens = new int[16]; // [count] generated so far
  private int count;
  private int emitted; // chars of the decoded text already handed out
  private boolean stopped; // a stop string was met: nothing more is handed out

  TextDeltas(TokenDecoder decoder, List<String> stops) {
    this.decoder = decoder;
    this.stops = List.copyOf(stops);
  }

  /** The text that {@code token} adds, possibly empty (held back). */
  String next(int token) {
    if (count == tokens.length) {
      tokens = Arrays.copyOf(tokens, count * 2);
    }
    tokens[count++] = token;
    if (stopped) {
      return "";
    }
    String text = decoder.decode(Arrays.copyOf(tokens, count));
    int safe = text.length();
    while (safe > 0 && text.charAt(safe - 1) == '\uFFFD') {
      safe--; // an incomplete character: wait for the token that completes it
    }
    for (String s : stops) {
      int at = text.indexOf(s, Math.max(0, emitted - s.length() + 1));
      if (at >= 0 && at < safe) {
        safe = at;
        stopped = true;
      }
    }
    if (!stopped) {
      safe = Math.min(safe, safe - heldForStop(text, safe));
    }
    if (safe <= emitted) {
      return "";
    }
    String delta = text.substring(emitted, safe);
    emitted = safe;
    return delta;
  }

  /** Chars handed out so far. */
  int emitted() {
    return emitted;
  }

  /**
   * What the last chunk carries: the rest of {@code finalText} after the pieces handed out, or
   * empty when those pieces are not a prefix of it (never expected: the result stays
   * authoritative).
   */
  static String rest(String finalText, String handedOut) {
    return finalText.startsWith(handedOut) ? finalText.substring(handedOut.length()) : "";
  }

  /** Length of the longest end of {@code text[0, end)} that begins a stop string. */
  private int heldForStop(String text, int end) {
    int held = 0;
    for (String s : stops) {
      for (int k = Math.min(s.length() - 1, end); k > held; k--) {
        if (text.startsWith(s.substring(0, k), end - k)) {
          held = k;
          break;
        }
      }
    }
    return held;
  }
}
