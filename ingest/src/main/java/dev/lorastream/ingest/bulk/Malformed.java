package dev.lorastream.ingest.bulk;

/**
 * An input line of {@code bulk} that yields no document at all (not JSON, no id, a repeated id):
 * listed as a failure by its line number, absent from the output.
 *
 * @param line 1-based line number in the input file
 * @param message what is wrong, for a person to fix the line
 */
public record Malformed(int line, String message) {

  @Override
  public String toString() {
    return "line " + line + ": " + message;
  }
}
