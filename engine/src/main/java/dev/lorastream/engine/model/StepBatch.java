package dev.lorastream.engine.model;

/**
 * The host-side description of one forward step over many sequences: what vLLM calls the attention
 * metadata plus the token→LoRA mapping. Built by the scheduler, read by {@link LlamaModel}; plain
 * data.
 *
 * <p>Tokens of one sequence are contiguous and in position order; sequences are ordered by adapter
 * slot, so that the rows of one adapter form one segment (SGMV).
 *
 * @param tokens {@code [T]} token ids
 * @param positions {@code [T]} position of each token in its sequence
 * @param tokenSeq {@code [T]} index of the token's sequence in this step, {@code 0..numSeqs-1}
 * @param slotMapping {@code [T]} KV-cache slot (block * blockSize + offset) each token's K/V is
 *     written to
 * @param blockTables {@code [numSeqs * maxBlocksPerSeq]} physical block of each logical block, -1
 *     padded
 * @param maxBlocksPerSeq row stride of {@code blockTables}
 * @param segStarts {@code [numSegments + 1]} first row of each adapter segment, then T
 * @param segSlots {@code [numSegments]} adapter slot of each segment, -1 for none
 * @param rowSlots {@code [T]} adapter slot of each row (the BGMV view of the same mapping)
 * @param logitRows rows whose logits are wanted (usually each sequence's last token), or null for
 *     all rows
 */
public record StepBatch(
    int[] tokens,
    int[] positions,
    int[] tokenSeq,
    int[] slotMapping,
    int[] blockTables,
    int maxBlocksPerSeq,
    int[] segStarts,
    int[] segSlots,
    int[] rowSlots,
    int[] logitRows) {

  public int numTokens() {
    return tokens.length;
  }

  /** Number of rows whose logits {@link LlamaModel#forward} returns. */
  public int numLogitRows() {
    return logitRows == null ? tokens.length : logitRows.length;
  }

  /** Whether any row goes through an adapter. */
  public boolean hasLora() {
    for (int s : segSlots) {
      if (s >= 0) {
        return true;
      }
    }
    return false;
  }
}
