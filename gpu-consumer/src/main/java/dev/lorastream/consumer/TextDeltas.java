package dev.lorastream.consumer;

import dev.lorastream.engine.sched.TokenDecoder;
import java.util.Arrays;
import java.util.List;

/**
 * Incremental decoding of one request's generated tokens into text pieces for {@link
 * dev.lorastream.schemas.StreamChunk}s: the pieces concatenate to a prefix of the final text. Text
 * is held back while it ends inside a UTF-8 character (the decoder's U+FFFD for an incomplete
 * sequence) or with the start of one of the request's stop strings, and cut before a whole stop
 * string (as {@code InferenceResult.text} is). Each token costs two decodes of a window of a few
 * tokens, not of the whole output. Not thread-safe: the engine thread owns it.
 */
final class TextDeltas {
  private final TokenDecoder decoder;
  private final List<String> stops;
  private int[] tokens = new int[16]; // [count] generated so far
  private int count;
  private int prefixOffset; // the decode window starts here: context for the tokens after it
  private int readOffset; // tokens before this are in decoded
  private final StringBuilder decoded = new StringBuilder(); // text of tokens[0, readOffset)
  private int emitted; // chars of decoded already handed out
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
    // Decode a short window (as Hugging Face text-generation-inference does): the text of
    // tokens[prefixOffset, count) past that of tokens[prefixOffset, readOffset) is what the new
    // tokens add, with the window's first tokens as context for spaces and merges; wait while it
    // ends inside a character (U+FFFD).
    String before = decoder.decode(Arrays.copyOfRange(tokens, prefixOffset, readOffset));
    String now = decoder.decode(Arrays.copyOfRange(tokens, prefixOffset, count));
    if (now.length() > before.length() && !now.endsWith("\uFFFD")) {
      decoded.append(now, before.length(), now.length());
      prefixOffset = readOffset;
      readOffset = count;
    }
    int safe = decoded.length();
    for (String s : stops) {
      int at = decoded.indexOf(s, Math.max(0, emitted - s.length() + 1));
      if (at >= 0 && at < safe) {
        safe = at;
        stopped = true;
      }
    }
    if (!stopped) {
      safe -= heldForStop(decoded, safe);
    }
    if (safe <= emitted) {
      return "";
    }
    String delta = decoded.substring(emitted, safe);
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
  private int heldForStop(CharSequence text, int end) {
    int held = 0;
    for (String s : stops) {
      for (int k = Math.min(s.length() - 1, end); k > held; k--) {
        if (text.subSequence(end - k, end).toString().equals(s.substring(0, k))) {
          held = k;
          break;
        }
      }
    }
    return held;
  }
}
