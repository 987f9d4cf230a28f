package dev.lorastream.engine.io;

/**
 * A PEFT adapter uses a feature this engine does not serve (DoRA, LoRA bias, modules_to_save,
 * embedding or lm_head targets, ranks above the configured maximum, ...).
 */
public class UnsupportedAdapterException extends ModelFormatException {

  public UnsupportedAdapterException(String message) {
    super(message);
  }

  public UnsupportedAdapterException(String message, Throwable cause) {
    super(message, cause);
  }
}
