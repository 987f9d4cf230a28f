package dev.lorastream.engine.sched;

import dev.lorastream.engine.model.StepBatch;
import java.util.Arrays;
import java.util.List;

/** Turns the scheduler's work list into the flat arrays of a {@link StepBatch}. */
final class StepBatches {
  private StepBatches() {}

  /**
   * @param work already ordered so that equal adapter slots are adjacent
   */
  static StepBatch build(List<Scheduler.Work> work, int blockSize) {
    int t = 0;
    int maxBlocks = 1;
    int sampling = 0;
    for (Scheduler.Work w : work) {
      t += w.count();
      maxBlocks = Math.max(maxBlocks, w.seq().blocks.size());
      if (w.samples()) {
        sampling++;
      }
    }
    int[] tokens = new int[t];
    int[] positions = new int[t];
    int[] tokenSeq = new int[t];
    int[] slotMapping = new int[t];
    int[] rowSlots = new int[t];
    int[] blockTables = new int[work.size() * maxBlocks];
    Arrays.fill(blockTables, -1);
    int[] logitRows = new int[sampling];
    int[] segStarts = new int[work.size() + 1];
    int[] segSlots = new int[work.size()];
    int segs = 0;
    int row = 0;
    int li = 0;
    for (int i = 0; i < work.size(); i++) {
      Scheduler.Work w = work.get(i);
      Sequence s = w.seq();
      for (int b = 0; b < s.blocks.size(); b++) {
        blockTables[i * maxBlocks + b] = s.blocks.get(b);
      }
      if (segs == 0 || segSlots[segs - 1] != s.slot) {
        segStarts[segs] = row;
        segSlots[segs] = s.slot;
        segs++;
      }
      for (int j = 0; j < w.count(); j++, row++) {
        int pos = w.start() + j;
        tokens[row] = s.tokens[pos];
        positions[row] = pos;
        tokenSeq[row] = i;
        slotMapping[row] = s.blocks.get(pos / blockSize) * blockSize + pos % blockSize;
        rowSlots[row] = s.slot;
      }
      if (w.samples()) {
        logitRows[li++] = row - 1;
      }
    }
    segStarts[segs] = row;
    return new StepBatch(
        tokens,
        positions,
        tokenSeq,
        slotMapping,
        blockTables,
        maxBlocks,
        Arrays.copyOf(segStarts, segs + 1),
        Arrays.copyOf(segSlots, segs),
        rowSlots,
        logitRows);
  }
}
