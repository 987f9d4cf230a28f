package dev.lorastream.ingest;

import dev.lorastream.tokenizer.HfTokenizer;
import java.nio.file.Path;
import java.util.List;

/**
 * Turns prompt text into the base model's token ids for {@link LoraClient}, so requests carry
 * {@code promptTokenIds} and the batcher can count tokens without a tokenizer of its own. The
 * tokenizing itself is the project's one tokenizer wrapper, {@link HfTokenizer} (the ids the engine
 * would compute itself); this is the client library's handle on it. Thread-safe.
 */
public final class PromptTokenizer implements AutoCloseable {
  private final HfTokenizer tokenizer;

  private PromptTokenizer(HfTokenizer tokenizer) {
    this.tokenizer = tokenizer;
  }

  /**
   * Loads {@code modelDir/tokenizer.json} (or {@code modelDir} itself when it is the file).
   *
   * @throws IllegalArgumentException when the file is missing or not a tokenizer, naming the file
   */
  public static PromptTokenizer load(Path modelDir) {
    return new PromptTokenizer(HfTokenizer.load(modelDir));
  }

  /** The prompt's token ids, as the Avro {@code promptTokenIds} list. */
  public List<Integer> encode(String text) {
    return tokenizer.encodeToList(text);
  }

  /** Wraps a tokenizer already loaded; closing this closes it. */
  public static PromptTokenizer of(HfTokenizer tokenizer) {
    return new PromptTokenizer(tokenizer);
  }

  /** The wrapped tokenizer. */
  public HfTokenizer tokenizer() {
    return tokenizer;
  }

  @Override
  public void close() {
    tokenizer.close();
  }
}
