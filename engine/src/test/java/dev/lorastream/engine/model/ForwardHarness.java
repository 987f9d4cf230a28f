package dev.lorastream.engine.model;

import dev.lorastream.engine.kv.KvCache;
import dev.lorastream.engine.lora.AdapterSlots;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Runs whole prompts of several sequences through {@link LlamaModel#forward} in ONE step (a
 * heterogeneous prefill batch) and returns every position's logits, for comparison with the PyTorch
 * reference.
 */
public final class ForwardHarness {
  private ForwardHarness() {}

  /**
   * @param slots per sequence its adapter slot (-1 none); equal neighbours form one SGMV segment
   * @return per sequence {@code [len][vocab]}
   */
  public static List<float[][]> prefill(
      LlamaModel model, KvCache kv, AdapterSlots adapterSlots, List<int[]> prompts, int[] slots) {
    int bs = kv.blockSize();
    int t = 0;
    int maxBlocks = 1;
    for (int[] p : prompts) {
      t += p.length;
      maxBlocks = Math.max(maxBlocks, (p.length + bs - 1) / bs);
    }
    int[] tokens = new int[t];
    int[] positions = new int[t];
    int[] tokenSeq = new int[t];
    int[] slotMapping = new int[t];
    int[] rowSlots = new int[t];
    int[] tables = new int[prompts.size() * maxBlocks];
    Arrays.fill(tables, -1);
    List<Integer> segStarts = new ArrayList<>();
    List<Integer> segSlots = new ArrayList<>();
    List<Integer> allocated = new ArrayList<>();
    int row = 0;
    for (int s = 0; s < prompts.size(); s++) {
      int[] p = prompts.get(s);
      int nb = (p.length + bs - 1) / bs;
      for (int b = 0; b < nb; b++) {
        int blk = kv.allocator().allocate();
        allocated.add(blk);
        tables[s * maxBlocks + b] = blk;
      }
      if (segSlots.isEmpty() || segSlots.getLast() != slots[s]) {
        segStarts.add(row);
        segSlots.add(slots[s]);
      }
      for (int i = 0; i < p.length; i++, row++) {
        tokens[row] = p[i];
        positions[row] = i;
        tokenSeq[row] = s;
        slotMapping[row] = tables[s * maxBlocks + i / bs] * bs + i % bs;
        rowSlots[row] = slots[s];
      }
    }
    segStarts.add(row);
    StepBatch batch =
        new StepBatch(
            tokens,
            positions,
            tokenSeq,
            slotMapping,
            tables,
            maxBlocks,
            segStarts.stream().mapToInt(Integer::intValue).toArray(),
            segSlots.stream().mapToInt(Integer::intValue).toArray(),
            rowSlots,
            null);
    float[] logits = model.forward(batch, kv, adapterSlots);
    kv.allocator().freeAll(allocated);
    int vocab = model.config().vocabSize();
    List<float[][]> out = new ArrayList<>();
    row = 0;
    for (int[] p : prompts) {
      float[][] seq = new float[p.length][];
      for (int i = 0; i < p.length; i++, row++) {
        seq[i] = Arrays.copyOfRange(logits, row * vocab, (row + 1) * vocab);
      }
      out.add(seq);
    }
    return out;
  }
}
