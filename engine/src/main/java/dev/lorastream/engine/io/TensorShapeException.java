package dev.lorastream.engine.io;

/** A tensor exists but has the wrong shape or rank for where the model or adapter uses it. */
public class TensorShapeException extends ModelFormatException {

  public TensorShapeException(String message) {
    super(message);
  }

  public TensorShapeException(String message, Throwable cause) {
    super(message, cause);
  }
}
