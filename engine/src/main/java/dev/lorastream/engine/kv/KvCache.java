package dev.lorastream.engine.kv;

import dev.lorastream.engine.ops.Ops;
import dev.lorastream.engine.ops.Tensor;

/**
 * The paged memory of one model on one backend: per layer a key and a value tensor of {@code
 * [pages, blockSize, nKvHeads, headDim]}, allocated once. A page is a KV block of every layer, or
 * part of an adapter's weights ({@link dev.lorastream.engine.lora.AdapterSlots} sees the same
 * tensors as row buffers); the {@link PagePool} says which. Which block belongs to which sequence
 * is the scheduler's business; this class owns the memory.
 */
public final class KvCache {
  private final int blockSize;
  private final int numBlocks;
  private final int pageElements;
  private final Tensor[] keys; // [layers] of [numBlocks, blockSize, nKv, headDim]
  private final Tensor[] values; // [layers] of [numBlocks, blockSize, nKv, headDim]
  private final PagePool pool;

  public KvCache(Ops ops, int layers, int numBlocks, int blockSize, int nKvHeads, int headDim) {
    long perLayer = (long) numBlocks * blockSize * nKvHeads * headDim;
    if (perLayer > Integer.MAX_VALUE) {
      throw new IllegalArgumentException(
          numBlocks
              + " pages of "
              + blockSize
              + " tokens make "
              + perLayer
              + " elements per layer, above 2^31 - 1: lower lorastream.kv.blocks or"
              + " lorastream.lora.max-loras");
    }
    this.blockSize = blockSize;
    this.numBlocks = numBlocks;
    this.pageElements = blockSize * nKvHeads * headDim;
    this.keys = new Tensor[layers];
    this.values = new Tensor[layers];
    for (int l = 0; l < layers; l++) {
      keys[l] = ops.allocate(ops.activationDType(), numBlocks, blockSize, nKvHeads, headDim);
      values[l] = ops.allocate(ops.activationDType(), numBlocks, blockSize, nKvHeads, headDim);
    }
    this.pool = new PagePool(numBlocks);
  }

  /** Bytes one block takes over all layers, keys and values. */
  public static long bytesPerBlock(
      int layers, int blockSize, int nKvHeads, int headDim, int dtypeBytes) {
    return 2L * layers * blockSize * nKvHeads * headDim * dtypeBytes;
  }

  public int blockSize() {
    return blockSize;
  }

  /** Pages of the pool (KV blocks and adapter pages together). */
  public int numBlocks() {
    return numBlocks;
  }

  /** Elements of one page in one layer's key (or value) tensor. */
  public int pageElements() {
    return pageElements;
  }

  /** The pages, as the scheduler's source of KV blocks. */
  public PagePool allocator() {
    return pool;
  }

  public Tensor keys(int layer) {
    return keys[layer];
  }

  public Tensor values(int layer) {
    return values[layer];
  }
}
