package dev.lorastream.ingest.bulk;

/**
 * One input line of {@code bulk} that has an id: a document to send, or, when {@link #invalid} is
 * set, one that cannot be sent and gets an {@code INVALID_PARAMS} row in the output.
 *
 * @param line 1-based line number in the input file
 * @param id the caller's document id (unique in the file); output rows are keyed by it
 * @param text the prompt text
 * @param maxTokens {@code max_tokens} of the line, or null for the command's default
 * @param temperature {@code temperature} of the line, or null for the command's default
 * @param invalid why the line cannot be sent, or null
 */
public record BulkDoc(
    int line, String id, String text, Integer maxTokens, Float temperature, String invalid) {

  static BulkDoc invalid(int line, String id, String why) {
    return new BulkDoc(line, id, null, null, null, why);
  }
}
