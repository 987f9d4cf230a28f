package dev.lorastream.engine.io;

/**
 * A safetensors file is malformed: bad header, unsupported dtype, offsets that do not match the
 * shapes, or a truncated file.
 */
public class SafetensorsFormatException extends ModelFormatException {

  public SafetensorsFormatException(String message) {
    super(message);
  }

  public SafetensorsFormatException(String message, Throwable cause) {
    super(message, cause);
  }
}
