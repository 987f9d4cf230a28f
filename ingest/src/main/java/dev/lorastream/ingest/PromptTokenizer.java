package dev.lorastream.ingest;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Turns prompt text into the base model's token ids with the model's own {@code tokenizer.json} (Hugging Face
 * tokenizers through DJL, offline), so requests carry {@code promptTokenIds} and the batcher can count tokens
 * without a tokenizer of its own. Special tokens are added as the tokenizer's post-processor says (BOS for
 * Llama), i.e. the ids the engine would compute itself. Thread-safe (the native tokenizer is).
 */
public final class PromptTokenizer implements AutoCloseable {
  static {
    // DJL extracts its native library into a cache folder; keep it in the user's cache, not the cwd.
    if (System.getProperty("DJL_CACHE_DIR") == null && System.getenv("DJL_CACHE_DIR") == null) {
      System.setProperty(
          "DJL_CACHE_DIR", Path.of(System.getProperty("user.home"), ".cache", "lorastream", "djl").toString());
    }
  }

  private final HuggingFaceTokenizer tokenizer;

  private PromptTokenizer(HuggingFaceTokenizer tokenizer) {
    this.tokenizer = tokenizer;
  }

  /**
   * Loads {@code modelDir/tokenizer.json} (or {@code modelDir} itself when it is the file).
   *
   * @throws IllegalArgumentException when the file is missing or not a tokenizer, naming the file
   */
  public static PromptTokenizer load(Path modelDir) {
    Path file = Files.isRegularFile(modelDir) ? modelDir : modelDir.resolve("tokenizer.json");
    if (!Files.isRegularFile(file)) {
      throw new IllegalArgumentException(file + ": missing; --model needs a directory with tokenizer.json");
    }
    try {
      return new PromptTokenizer(HuggingFaceTokenizer.newInstance(file, Map.of("addSpecialTokens", "true")));
    } catch (IOException | RuntimeException e) {
      throw new IllegalArgumentException(file + ": cannot be loaded as a tokenizer: " + e.getMessage(), e);
    }
  }

  /** The prompt's token ids, as the Avro {@code promptTokenIds} list. */
  public List<Integer> encode(String text) {
    long[] ids = tokenizer.encode(text).getIds();
    List<Integer> out = new ArrayList<>(ids.length);
    for (long id : ids) {
      out.add(Math.toIntExact(id));
    }
    return out;
  }

  @Override
  public void close() {
    tokenizer.close();
  }
}
