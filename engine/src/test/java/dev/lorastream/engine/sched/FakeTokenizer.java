package dev.lorastream.engine.sched;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A test vocabulary with the two decoders LLM tokenizers use, for stop-string tests. Ids 0..255 are
 * single bytes; ids from 256 are text pieces registered by {@link #piece} (the empty piece stands
 * for a special token, which decoding skips).
 *
 * <ul>
 *   <li>{@link #byteLevel}: GPT-2 / Llama 3 / Qwen2 style; all pieces as UTF-8 bytes, the whole
 *       decoded lossily (each malformed sequence a U+FFFD).
 *   <li>{@link #byteFallback}: SentencePiece style (Llama 2, Mistral); a run of byte tokens decodes
 *       to its text when it is valid UTF-8, else to one U+FFFD per byte; {@code ▁} is a space; one
 *       leading space is stripped.
 * </ul>
 */
final class FakeTokenizer {
  private final List<String> pieces = new ArrayList<>();
  private final Map<String, Integer> ids = new HashMap<>();

  /** The id of text piece {@code p}, registered on first use. */
  int piece(String p) {
    return ids.computeIfAbsent(
        p,
        k -> {
          pieces.add(k);
          return 255 + pieces.size();
        });
  }

  /** One byte token per UTF-8 byte of {@code s}. */
  int[] bytes(String s) {
    byte[] b = s.getBytes(StandardCharsets.UTF_8);
    int[] out = new int[b.length];
    for (int i = 0; i < b.length; i++) {
      out[i] = b[i] & 0xff;
    }
    return out;
  }

  int vocabSize() {
    return 256 + pieces.size();
  }

  String byteLevel(int[] tokens) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (int t : tokens) {
      if (t < 256) {
        out.write(t);
      } else {
        out.writeBytes(pieces.get(t - 256).replace('▁', ' ').getBytes(StandardCharsets.UTF_8));
      }
    }
    return out.toString(StandardCharsets.UTF_8);
  }

  String byteFallback(int[] tokens) {
    StringBuilder text = new StringBuilder();
    ByteArrayOutputStream run = new ByteArrayOutputStream();
    for (int t : tokens) {
      if (t < 256) {
        run.write(t);
      } else if (!pieces
          .get(t - 256)
          .isEmpty()) { // a special token is skipped: it does not end a run
        flush(run, text);
        text.append(pieces.get(t - 256).replace('▁', ' '));
      }
    }
    flush(run, text);
    return text.length() > 0 && text.charAt(0) == ' ' ? text.substring(1) : text.toString();
  }

  private static void flush(ByteArrayOutputStream run, StringBuilder text) {
    if (run.size() == 0) {
      return;
    }
    try {
      text.append(
          StandardCharsets.UTF_8
              .newDecoder()
              .onMalformedInput(CodingErrorAction.REPORT)
              .onUnmappableCharacter(CodingErrorAction.REPORT)
              .decode(ByteBuffer.wrap(run.toByteArray())));
    } catch (CharacterCodingException e) {
      text.append("\uFFFD".repeat(run.size()));
    }
    run.reset();
  }
}
