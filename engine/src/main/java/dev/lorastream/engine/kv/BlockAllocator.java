package dev.lorastream.engine.kv;

import java.util.ArrayDeque;
import java.util.BitSet;

/**
 * Hands out fixed-size KV-cache blocks (pages) by index. Blocks are freed explicitly; a double free
 * or freeing a block that was never handed out is a bug and throws. Not thread-safe: the
 * scheduler's thread owns it.
 */
public final class BlockAllocator implements KvBlocks {
  private final int numBlocks;
  private final ArrayDeque<Integer> free = new ArrayDeque<>();
  private final BitSet used;

  public BlockAllocator(int numBlocks) {
    if (numBlocks <= 0) {
      throw new IllegalArgumentException("numBlocks must be positive, got " + numBlocks);
    }
    this.numBlocks = numBlocks;
    this.used = new BitSet(numBlocks);
    for (int b = 0; b < numBlocks; b++) {
      free.addLast(b);
    }
  }

  @Override
  public int numBlocks() {
    return numBlocks;
  }

  @Override
  public int numFree() {
    return free.size();
  }

  /** A free block's index, or -1 when none is left. */
  @Override
  public int allocate() {
    Integer b = free.pollFirst();
    if (b == null) {
      return -1;
    }
    used.set(b);
    return b;
  }

  @Override
  public void free(int block) {
    if (block < 0 || block >= numBlocks || !used.get(block)) {
      throw new IllegalStateException("block " + block + " is not allocated");
    }
    used.clear(block);
    free.addFirst(block);
  }
}
