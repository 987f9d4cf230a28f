package dev.lorastream.consumer;

import java.util.BitSet;

/**
 * Which rows of one {@code lora.batches} record have a committed answer: the unit that the offset
 * commit's metadata carries for each partly answered batch ({@link AnsweredRowsCodec}).
 *
 * @param offset the batch's offset in its partition
 * @param rows how many requests the batch holds (1 or more)
 * @param answered the answered rows, each in {@code [0, rows)}; this record keeps its own copy
 */
record AnsweredBatch(long offset, int rows, BitSet answered) {
  AnsweredBatch {
    if (offset < 0 || rows < 1) {
      throw new IllegalArgumentException(
          "a batch needs offset >= 0 and rows >= 1, got offset=" + offset + " rows=" + rows);
    }
    if (answered.length() > rows) {
      throw new IllegalArgumentException(
          "answered row " + (answered.length() - 1) + " is outside a batch of " + rows + " rows");
    }
    answered = (BitSet) answered.clone();
  }

  /** Every row answered. */
  boolean full() {
    return answered.cardinality() == rows;
  }

  @Override
  public BitSet answered() {
    return (BitSet) answered.clone();
  }
}
