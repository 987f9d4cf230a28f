package dev.lorastream.engine.kv;

import java.util.Arrays;
import java.util.BitSet;

/**
 * One budget of pages shared by the KV cache and the adapter pool, as in S-LoRA's unified paging
 * (Sheng et al., "S-LoRA: Serving Thousands of Concurrent LoRA Adapters", 2023): a page is one KV
 * block of every layer, or part of an adapter's weights of every layer (see {@link
 * dev.lorastream.engine.lora.AdapterSlots}). KV blocks are taken from the low end, adapters' runs
 * of pages from the high end, so that the two rarely cut each other's free space into pieces.
 *
 * <p>KV and adapters compete for the pages: a KV block that finds no free page evicts the adapter
 * used least recently among those no running sequence uses ({@link Evictor}); an adapter that finds
 * no run of pages waits (its request stays queued) until KV or idle adapters give pages back. KV is
 * never evicted for an adapter: a running sequence's blocks are freed only when it finishes or is
 * preempted by the scheduler. Not thread-safe: the engine thread owns it.
 */
public final class PagePool implements KvBlocks {
  /** Owner of a free page. */
  public static final int FREE = -1;

  /** Owner of a KV block. */
  public static final int KV = -2;

  /** The adapter side of the pool: what KV may take from it. */
  public interface Evictor {
    /** Pages of adapters that may be evicted now (no running sequence uses them). */
    int evictablePages();

    /** Evicts the least recently used adapter {@link #evictablePages} counts; false if none. */
    boolean evictOne();
  }

  private static final Evictor NONE =
      new Evictor() {
        @Override
        public int evictablePages() {
          return 0;
        }

        @Override
        public boolean evictOne() {
          return false;
        }
      };

  private final int[] owner; // [pages] FREE, KV or the adapter slot holding the page
  private final BitSet free;
  private int kvPages;
  private Evictor evictor = NONE;

  public PagePool(int pages) {
    if (pages <= 0) {
      throw new IllegalArgumentException("a page pool needs pages, got " + pages);
    }
    this.owner = new int[pages];
    Arrays.fill(owner, FREE);
    this.free = new BitSet(pages);
    free.set(0, pages);
  }

  /** The adapter side that KV may evict from (at most one; the adapter pool registers itself). */
  public void evictor(Evictor e) {
    this.evictor = e;
  }

  @Override
  public int numBlocks() {
    return owner.length;
  }

  /** Every page of the pool. */
  public int pages() {
    return owner.length;
  }

  /** Free pages plus the pages of adapters that KV may evict. */
  @Override
  public int numFree() {
    return free.cardinality() + evictor.evictablePages();
  }

  /** Pages nobody holds. */
  public int freePages() {
    return free.cardinality();
  }

  /** Pages holding KV blocks. */
  public int kvPages() {
    return kvPages;
  }

  /** Pages holding adapter weights. */
  public int adapterPages() {
    return owner.length - kvPages - free.cardinality();
  }

  /** The lowest free page as a KV block, evicting idle adapters while none is free; or -1. */
  @Override
  public int allocate() {
    int p = free.nextSetBit(0);
    while (p < 0) {
      if (!evictor.evictOne()) {
        return -1;
      }
      p = free.nextSetBit(0);
    }
    free.clear(p);
    owner[p] = KV;
    kvPages++;
    return p;
  }

  @Override
  public void free(int block) {
    if (block < 0 || block >= owner.length || owner[block] != KV) {
      throw new IllegalStateException("block " + block + " is not an allocated KV block");
    }
    owner[block] = FREE;
    free.set(block);
    kvPages--;
  }

  /** {@link #FREE}, {@link #KV} or the adapter slot holding page {@code page}. */
  public int owner(int page) {
    return owner[page];
  }

  /** Gives the free pages {@code [first, first + n)} to adapter slot {@code slot}. */
  public void assign(int first, int n, int slot) {
    if (slot < 0) {
      throw new IllegalArgumentException("adapter slot must be non-negative, got " + slot);
    }
    for (int p = first; p < first + n; p++) {
      if (owner[p] != FREE) {
        throw new IllegalStateException("page " + p + " is not free (owner " + owner[p] + ")");
      }
    }
    Arrays.fill(owner, first, first + n, slot);
    free.clear(first, first + n);
  }

  /** Frees the pages {@code [first, first + n)} that adapter slot {@code slot} held. */
  public void release(int first, int n, int slot) {
    for (int p = first; p < first + n; p++) {
      if (owner[p] != slot) {
        throw new IllegalStateException(
            "page " + p + " is not held by adapter slot " + slot + " (owner " + owner[p] + ")");
      }
    }
    Arrays.fill(owner, first, first + n, FREE);
    free.set(first, first + n);
  }
}
