package dev.lorastream.engine.tokenizer;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import dev.lorastream.engine.io.ModelFormatException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * A model's {@code tokenizer.json} through the Hugging Face tokenizers library (DJL's binding), offline.
 * Encoding applies the tokenizer's own post-processor, so BOS is added exactly when the model's tokenizer
 * adds it. Thread-safe (the native tokenizer is).
 */
public final class HfTokenizer implements AutoCloseable {
  static {
    // DJL extracts its native library into a cache folder; keep it in the user's cache, not the cwd.
    if (System.getProperty("DJL_CACHE_DIR") == null && System.getenv("DJL_CACHE_DIR") == null) {
      System.setProperty(
          "DJL_CACHE_DIR", Path.of(System.getProperty("user.home"), ".cache", "lorastream", "djl").toString());
    }
  }

  private final HuggingFaceTokenizer tok;
  private final Path file;

  private HfTokenizer(HuggingFaceTokenizer tok, Path file) {
    this.tok = tok;
    this.file = file;
  }

  /** Loads {@code dir/tokenizer.json}. */
  public static HfTokenizer load(Path modelDir) {
    Path file = modelDir.resolve("tokenizer.json");
    if (!Files.isRegularFile(file)) {
      throw new ModelFormatException(
          file + ": missing; a model directory needs tokenizer.json next to config.json");
    }
    try {
      return new HfTokenizer(
          HuggingFaceTokenizer.newInstance(file, Map.of("addSpecialTokens", "true")), file);
    } catch (IOException | RuntimeException e) {
      throw new ModelFormatException(file + ": cannot be loaded as a tokenizer: " + e.getMessage(), e);
    }
  }

  public int[] encode(String text) {
    Encoding e = tok.encode(text);
    long[] ids = e.getIds();
    int[] out = new int[ids.length];
    for (int i = 0; i < ids.length; i++) {
      out[i] = (int) ids[i];
    }
    return out;
  }

  /** Text of the ids, special tokens skipped. */
  public String decode(int[] ids) {
    long[] l = new long[ids.length];
    for (int i = 0; i < ids.length; i++) {
      l[i] = ids[i];
    }
    return tok.decode(l, true);
  }

  public Path file() {
    return file;
  }

  @Override
  public void close() {
    tok.close();
  }
}
