package dev.lorastream.engine.io;

/** A tensor the model or adapter needs is absent from its safetensors file(s). */
public class MissingTensorException extends ModelFormatException {

  public MissingTensorException(String message) {
    super(message);
  }

  public MissingTensorException(String message, Throwable cause) {
    super(message, cause);
  }
}
