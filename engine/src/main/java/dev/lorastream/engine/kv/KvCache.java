package dev.lorastream.engine.kv;

import dev.lorastream.engine.ops.Ops;
import dev.lorastream.engine.ops.Tensor;

/**
 * The paged KV cache of one model on one backend: per layer a key and a value tensor of {@code
 * [numBlocks, blockSize, nKvHeads, headDim]}, allocated once. Which block belongs to which sequence
 * is the {@link BlockAllocator}'s and the sequences' business; this class only owns the memory.
 */
public final class KvCache {
  private final int blockSize;
  private final int numBlocks;
  private final Tensor[] keys; // [layers] of [numBlocks, blockSize, nKv, headDim]
  private final Tensor[] values; // [layers] of [numBlocks, blockSize, nKv, headDim]
  private final BlockAllocator allocator;

  public KvCache(Ops ops, int layers, int numBlocks, int blockSize, int nKvHeads, int headDim) {
    this.blockSize = blockSize;
    this.numBlocks = numBlocks;
    this.keys = new Tensor[layers];
    this.values = new Tensor[layers];
    for (int l = 0; l < layers; l++) {
      keys[l] = ops.allocate(ops.activationDType(), numBlocks, blockSize, nKvHeads, headDim);
      values[l] = ops.allocate(ops.activationDType(), numBlocks, blockSize, nKvHeads, headDim);
    }
    this.allocator = new BlockAllocator(numBlocks);
  }

  /** Bytes one block takes over all layers, keys and values. */
  public static long bytesPerBlock(
      int layers, int blockSize, int nKvHeads, int headDim, int dtypeBytes) {
    return 2L * layers * blockSize * nKvHeads * headDim * dtypeBytes;
  }

  public int blockSize() {
    return blockSize;
  }

  public int numBlocks() {
    return numBlocks;
  }

  public BlockAllocator allocator() {
    return allocator;
  }

  public Tensor keys(int layer) {
    return keys[layer];
  }

  public Tensor values(int layer) {
    return values[layer];
  }
}
