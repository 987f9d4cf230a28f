package dev.lorastream.engine.io;

import dev.lorastream.engine.tensor.HostTensor;
import java.nio.file.Path;
import java.util.Arrays;

/** A weight tensor holds NaN or an infinity, which would poison every output it touches. */
public class NonFiniteWeightException extends ModelFormatException {

  public NonFiniteWeightException(String message) {
    super(message);
  }

  /**
   * The refusal of {@code t} from {@code file}, whose first non-finite element is at flat {@code
   * index}: names the file, the tensor, the value, the index and the element's position.
   *
   * @param advice what the reader should do about it, appended after "; "
   */
  public static NonFiniteWeightException of(Path file, HostTensor t, long index, String advice) {
    float v = t.getFloat(index);
    String value = Float.isNaN(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf";
    return new NonFiniteWeightException(
        file
            + ": tensor '"
            + t.name()
            + "' ("
            + t.dtype()
            + Arrays.toString(t.shape())
            + ") holds "
            + value
            + " at index "
            + index
            + " (element "
            + Arrays.toString(t.position(index))
            + "); "
            + advice);
  }
}
