package dev.lorastream.tokenizer;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A model's {@code tokenizer.json} through the Hugging Face tokenizers library (DJL's binding),
 * offline: the one tokenizer wrapper of the project, used by the inference service (prompt text,
 * output text) and by the client library (requests carry {@code promptTokenIds}, so the batcher
 * counts tokens without a tokenizer of its own). Encoding applies the tokenizer's own
 * post-processor, so BOS is added exactly when the model's tokenizer adds it, i.e. the ids the
 * engine would compute itself. Thread-safe (the native tokenizer is).
 */
public final class HfTokenizer implements AutoCloseable {
  static {
    // DJL extracts its native library into a cache folder; keep it in the user's cache, not the
    // cwd.
    if (System.getProperty("DJL_CACHE_DIR") == null && System.getenv("DJL_CACHE_DIR") == null) {
      System.setProperty(
          "DJL_CACHE_DIR",
          Path.of(System.getProperty("user.home"), ".cache", "lorastream", "djl").toString());
    }
  }

  private final HuggingFaceTokenizer tok;
  private final Path file;

  private HfTokenizer(HuggingFaceTokenizer tok, Path file) {
    this.tok = tok;
    this.file = file;
  }

  /**
   * Loads {@code modelDir/tokenizer.json}, or {@code modelDir} itself when it is the file.
   *
   * @throws IllegalArgumentException when the file is missing or is not a tokenizer, naming the
   *     file
   */
  public static HfTokenizer load(Path modelDir) {
    Path file = Files.isRegularFile(modelDir) ? modelDir : modelDir.resolve("tokenizer.json");
    if (!Files.isRegularFile(file)) {
      throw new IllegalArgumentException(
          file + ": missing; a model directory needs tokenizer.json next to config.json");
    }
    try {
      return new HfTokenizer(
          HuggingFaceTokenizer.newInstance(file, Map.of("addSpecialTokens", "true")), file);
    } catch (IOException | RuntimeException e) {
      throw new IllegalArgumentException(
          file + ": cannot be loaded as a tokenizer: " + e.getMessage(), e);
    }
  }

  /** The token ids of {@code text}, special tokens added as the tokenizer's post-processor says. */
  public int[] encode(String text) {
    long[] ids = tok.encode(text).getIds();
    int[] out = new int[ids.length];
    for (int i = 0; i < ids.length; i++) {
      out[i] = Math.toIntExact(ids[i]);
    }
    return out;
  }

  /** {@link #encode} as a list, the shape of the Avro {@code promptTokenIds} field. */
  public List<Integer> encodeToList(String text) {
    int[] ids = encode(text);
    List<Integer> out = new ArrayList<>(ids.length);
    for (int id : ids) {
      out.add(id);
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

  /** The {@code tokenizer.json} this was loaded from. */
  public Path file() {
    return file;
  }

  @Override
  public void close() {
    tok.close();
  }
}
