package dev.lorastream.engine.io;

/**
 * Base of every error raised while loading a model, its config or a LoRA adapter from disk.
 *
 * <p>Messages are meant for a person: they name the file, the tensor or key where relevant, the
 * expected and actual values, and what to do about it. Callers that turn a failed load into a
 * request error (for example {@code ADAPTER_INVALID}) can catch this type and forward {@link
 * #getMessage()} as is.
 */
public class ModelFormatException extends RuntimeException {

  public ModelFormatException(String message) {
    super(message);
  }

  public ModelFormatException(String message, Throwable cause) {
    super(message, cause);
  }
}
