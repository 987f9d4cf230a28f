package dev.lorastream.engine.kv;

import java.util.List;

/**
 * Where the scheduler takes KV-cache blocks (pages) from and returns them to: a {@link
 * BlockAllocator} of its own, or the {@link PagePool} that KV pages share with adapter weights. Not
 * thread-safe: the scheduler's thread owns it.
 */
public interface KvBlocks {
  /** Pages that hold KV or may hold it. */
  int numBlocks();

  /**
   * Blocks {@link #allocate} can hand out now: free ones, plus in a shared pool the pages of
   * adapters that no running sequence uses (evicted when a block needs them).
   */
  int numFree();

  /** A block's index, or -1 when none can be had. */
  int allocate();

  /** Returns a block handed out by {@link #allocate}; anything else is a bug and throws. */
  void free(int block);

  default void freeAll(List<Integer> blocks) {
    for (int b : blocks) {
      free(b);
    }
  }
}
