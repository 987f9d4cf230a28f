package dev.lorastream.engine.io;

/**
 * A model config asks for an architecture, or an architectural feature (rope type, sliding window,
 * activation, biases), that this engine does not implement.
 */
public class UnsupportedArchitectureException extends ModelFormatException {

  public UnsupportedArchitectureException(String message) {
    super(message);
  }

  public UnsupportedArchitectureException(String message, Throwable cause) {
    super(message, cause);
  }
}
