package dev.lorastream.engine.lora;

import dev.lorastream.engine.config.ModelConfig;
import dev.lorastream.engine.config.Proj;
import dev.lorastream.engine.kv.KvCache;
import dev.lorastream.engine.kv.PagePool;
import dev.lorastream.engine.ops.Ops;
import dev.lorastream.engine.ops.Tensor;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;

/**
 * The backend's adapter pool: LoRA weights at their true rank in pages of the memory the KV cache
 * uses, and the LRU that decides which adapter lives where (vLLM's adapter manager; S-LoRA's
 * unified paging, where adapter weights and KV blocks compete for one budget of pages, see {@link
 * PagePool}).
 *
 * <p>An adapter of rank r takes one contiguous run of pages, the same in every layer: in the key
 * tensor of a layer ({@code [pages, blockSize, nKv, headDim]}, seen as a row buffer {@code [*, in]}
 * per projection) its A rows for each projection it targets, one after another; in the value tensor
 * its {@code bT} rows (B transposed and pre-multiplied by the adapter's scale, seen as {@code [*,
 * out]}). So {@link #aRows}{@code (p)[slot]} is the first A row of the slot's adapter in {@link
 * #a}{@code (p, layer)}, and {@link #bRows} the first row in {@link #bT}; {@code ranks(p)[slot]} is
 * 0 where the slot's adapter does not target {@code p} or the slot is empty. A smaller rank takes
 * fewer pages, so the pool holds more small adapters than rank-padded slots would.
 *
 * <p>A slot in use by a running sequence is pinned (reference-counted) and never evicted; nor is a
 * hot adapter ({@link #hot}) while the hot ones fit in {@link #sharePages}. When no run of pages is
 * free, the run whose adapters were used least recently (none pinned, no KV page in it) is evicted;
 * when KV needs a page and none is free, the least recently used unpinned adapter is evicted.
 *
 * <p>Writing an adapter's rows (converted to the pool's dtype, copied to the backend) runs on the
 * {@code filler} executor, not on the engine thread: {@link #acquire} reserves the pages and
 * returns -1, and a later {@link #acquire} pins the slot once the write has finished, so running
 * sequences keep decoding while an adapter is brought in. Pages being written are never evicted or
 * read.
 *
 * <p>A slot holds one loaded copy of an adapter ({@link LoraAdapter} instance) and is reused only
 * for that same copy: a different copy of the same id (reloaded after {@link #invalidate}, or after
 * the host cache dropped it) never runs on the weights of the old one. {@link #invalidate} drops an
 * adapter's slot at once when no sequence pins it; a pinned slot is retired instead (its sequences
 * keep the weights they started with, new acquires get another slot) and freed at its last {@link
 * #release}. Not thread-safe: the engine thread owns it.
 */
public final class AdapterSlots implements PagePool.Evictor {
  private final Ops ops;
  private final ModelConfig cfg;
  private final int numLayers;
  private final int maxLoras;
  private final int maxRank;
  private final int slots; // slot ids: the most adapters resident at once
  private final int pageElements;
  private final int sharePages; // the adapters' nominal share of the pool
  private final Set<Proj> targets;
  private final PagePool pool;
  private final Tensor[][] a; // [Proj][layer] the layer's key pages as [*, in]
  private final Tensor[][] bT; // [Proj][layer] the layer's value pages as [*, out]
  private final int[][] ranks; // [Proj][slots]
  private final int[][] aRows; // [Proj][slots] first A row in a(p, layer)
  private final int[][] bRows; // [Proj][slots] first bT row in bT(p, layer)
  private final int[] runStart; // [slots] first page of the slot's run
  private final int[] runPages; // [slots] pages of the run, 0 when empty
  private final String[] slotAdapter; // [slots] adapter id or null
  private final LoraAdapter[] slotCopy; // [slots] the loaded copy written there, or null
  private final boolean[] retired; // [slots] invalidated while pinned: freed at the last release
  private final boolean[] hotSlot; // [slots] never evicted
  private final int[] pins; // [slots]
  private final long[] lastUse; // [slots]
  private final CompletableFuture<int[]>[] fills; // [slots] a write in flight, or null
  private final Executor filler;
  private final Map<String, Integer> slotOf = new HashMap<>();
  private Set<String> hot = Set.of();
  private Set<String> wanted = Set.of();
  private volatile Runnable onWritten = () -> {};
  private long clock;
  private long loads;
  private long evictions;
  private long invalidations;

  /**
   * A pool of its own, sized for {@code maxLoras} adapters of rank {@code maxRank} and nothing else
   * (no KV blocks), written on the calling thread.
   */
  public AdapterSlots(Ops ops, ModelConfig cfg, int maxLoras, int maxRank, Set<Proj> targets) {
    this(ops, cfg, maxLoras, maxRank, targets, Runnable::run);
  }

  /** {@link #AdapterSlots(Ops, ModelConfig, int, int, Set)} written on {@code filler}. */
  public AdapterSlots(
      Ops ops, ModelConfig cfg, int maxLoras, int maxRank, Set<Proj> targets, Executor filler) {
    this(
        ops,
        cfg,
        new KvCache(
            ops,
            cfg.numLayers(),
            sharePages(cfg, targets, maxLoras, maxRank, DEFAULT_BLOCK_SIZE),
            DEFAULT_BLOCK_SIZE,
            cfg.numKvHeads(),
            cfg.headDim()),
        maxLoras,
        maxRank,
        targets,
        filler);
  }

  /**
   * The adapter side of {@code kv}'s pages.
   *
   * @param maxLoras the most adapters of rank {@code maxRank} the pool is sized for ({@link
   *     #sharePages}); up to {@code maxLoras · ⌈maxRank / 8⌉} smaller ones may be resident at once
   * @param targets projections that get adapter rows; an adapter targeting another one is refused
   *     at {@link #acquire}
   * @param filler runs the writes of adapters into the pool (the engine's loader threads), so that
   *     the engine thread never waits for them: an adapter being written is not resident yet, and
   *     {@link #acquire} of it returns -1 until the write has finished
   */
  @SuppressWarnings("unchecked")
  public AdapterSlots(
      Ops ops,
      ModelConfig cfg,
      KvCache kv,
      int maxLoras,
      int maxRank,
      Set<Proj> targets,
      Executor filler) {
    if (maxLoras <= 0 || maxRank <= 0) {
      throw new IllegalArgumentException(
          "maxLoras and maxRank must be positive, got " + maxLoras + " and " + maxRank);
    }
    this.ops = ops;
    this.cfg = cfg;
    this.numLayers = cfg.numLayers();
    this.maxLoras = maxLoras;
    this.maxRank = maxRank;
    this.slots = maxLoras * Math.max(1, (maxRank + GRANULE - 1) / GRANULE);
    this.targets = targets.isEmpty() ? EnumSet.noneOf(Proj.class) : EnumSet.copyOf(targets);
    this.pageElements = kv.pageElements();
    this.sharePages = sharePagesOf(cfg, this.targets, maxLoras, maxRank, pageElements);
    this.pool = kv.allocator();
    long arena = (long) kv.numBlocks() * pageElements;
    int np = Proj.values().length;
    this.a = new Tensor[np][];
    this.bT = new Tensor[np][];
    this.ranks = new int[np][slots];
    this.aRows = new int[np][slots];
    this.bRows = new int[np][slots];
    for (Proj p : this.targets) {
      int in = p.inDim(cfg);
      int out = p.outDim(cfg);
      a[p.ordinal()] = new Tensor[numLayers];
      bT[p.ordinal()] = new Tensor[numLayers];
      for (int l = 0; l < numLayers; l++) {
        a[p.ordinal()][l] = ops.view(kv.keys(l), (int) (arena / in), in);
        bT[p.ordinal()][l] = ops.view(kv.values(l), (int) (arena / out), out);
      }
    }
    this.runStart = new int[slots];
    this.runPages = new int[slots];
    this.slotAdapter = new String[slots];
    this.slotCopy = new LoraAdapter[slots];
    this.retired = new boolean[slots];
    this.hotSlot = new boolean[slots];
    this.pins = new int[slots];
    this.lastUse = new long[slots];
    this.fills = new CompletableFuture[slots];
    this.filler = filler;
    pool.evictor(this);
  }

  /** Tokens per KV block of a pool made by the constructors without a {@link KvCache}. */
  public static final int DEFAULT_BLOCK_SIZE = 16;

  /** A rank in units of this many rows sets the most adapters resident at once. */
  public static final int GRANULE = 8;

  /**
   * Pages that {@code maxLoras} adapters of rank {@code maxRank} targeting every one of {@code
   * targets} take: the adapters' share of a pool with KV blocks of {@code blockSize} tokens.
   */
  public static int sharePages(
      ModelConfig cfg, Set<Proj> targets, int maxLoras, int maxRank, int blockSize) {
    return sharePagesOf(
        cfg, targets, maxLoras, maxRank, blockSize * cfg.numKvHeads() * cfg.headDim());
  }

  private static int sharePagesOf(
      ModelConfig cfg, Set<Proj> targets, int maxLoras, int maxRank, int pageElements) {
    if (targets.isEmpty()) {
      return 0;
    }
    return Math.multiplyExact(maxLoras, pagesFor(cfg, targets, maxRank, pageElements));
  }

  /**
   * Pages an adapter of rank {@code rank} targeting {@code targets} takes: its A rows of every
   * target in the key pages and its B rows in the value pages, each target's rows starting on a
   * whole row of that target's width (so up to one row more per target).
   */
  static int pagesFor(ModelConfig cfg, Set<Proj> targets, int rank, int pageElements) {
    long inElems = 0;
    long outElems = 0;
    for (Proj p : targets) {
      inElems += (long) (rank + 1) * p.inDim(cfg);
      outElems += (long) (rank + 1) * p.outDim(cfg);
    }
    return Math.toIntExact(
        Math.max(1, (Math.max(inElems, outElems) + pageElements - 1) / pageElements));
  }

  /** Pages an adapter of this rank targeting every projection of the pool takes. */
  public int pagesFor(int rank) {
    return pagesFor(cfg, targets, rank, pageElements);
  }

  private int pagesFor(LoraAdapter adapter) {
    Set<Proj> used = EnumSet.noneOf(Proj.class);
    used.addAll(adapter.targets());
    used.retainAll(targets);
    return pagesFor(cfg, used, adapter.rank(), pageElements);
  }

  /** The pages of the pool sized for {@code maxLoras} adapters of {@code maxRank}. */
  public int sharePages() {
    return sharePages;
  }

  /** The pool this adapter side shares with the KV cache. */
  public PagePool pool() {
    return pool;
  }

  /**
   * Adapters that stay resident once written, whatever else needs their pages, as long as the hot
   * adapters resident take at most {@link #sharePages} pages (beyond that one is evicted like any
   * other). Running sequences pin their adapters anyway; this keeps the ones named here warm
   * between requests.
   */
  public void hot(Set<String> adapterIds) {
    this.hot = Set.copyOf(adapterIds);
    for (int s = 0; s < slots; s++) {
      hotSlot[s] = false;
    }
    int used = 0;
    for (int s = 0; s < slots; s++) {
      if (runPages[s] > 0 && slotAdapter[s] != null && hot.contains(slotAdapter[s])) {
        if (used + runPages[s] <= sharePages) {
          hotSlot[s] = true;
          used += runPages[s];
        }
      }
    }
  }

  /** Slot ids (the length of {@link #ranks}, {@link #aRows} and {@link #bRows}). */
  public int slots() {
    return slots;
  }

  /** Pages held by resident adapters (retired ones included until freed). */
  public int usedPages() {
    int n = 0;
    for (int g : runPages) {
      n += g;
    }
    return n;
  }

  /** Adapters resident now (retired ones included until freed). */
  public int residentCount() {
    int n = 0;
    for (int g : runPages) {
      n += g > 0 ? 1 : 0;
    }
    return n;
  }

  public int maxLoras() {
    return maxLoras;
  }

  public int maxRank() {
    return maxRank;
  }

  public Set<Proj> targets() {
    return EnumSet.copyOf(targets.isEmpty() ? EnumSet.noneOf(Proj.class) : targets);
  }

  /** Whether projection {@code p} has adapter rows at all. */
  public boolean hasTarget(Proj p) {
    return a[p.ordinal()] != null;
  }

  /** The layer's key pages seen as A rows of width {@code p}'s input. */
  public Tensor a(Proj p, int layer) {
    return a[p.ordinal()][layer];
  }

  /** The layer's value pages seen as bT rows of width {@code p}'s output. */
  public Tensor bT(Proj p, int layer) {
    return bT[p.ordinal()][layer];
  }

  /** Live ranks per slot for projection p ({@code [slots]}); do not modify. */
  public int[] ranks(Proj p) {
    return ranks[p.ordinal()];
  }

  /**
   * First row of each slot's A in {@link #a}{@code (p, layer)} ({@code [slots]}); do not modify.
   */
  public int[] aRows(Proj p) {
    return aRows[p.ordinal()];
  }

  /**
   * First row of each slot's bT in {@link #bT}{@code (p, layer)} ({@code [slots]}); do not modify.
   */
  public int[] bRows(Proj p) {
    return bRows[p.ordinal()];
  }

  /** The slot holding {@code adapterId}, or -1. */
  public int slotOf(String adapterId) {
    return slotOf.getOrDefault(adapterId, -1);
  }

  /**
   * Whether {@link #acquire} of {@code adapter} would find room now: it is resident, or a run of
   * pages long enough for it is free or held only by adapters that may be evicted, and a slot id is
   * free or may be freed.
   */
  public boolean hasRoomFor(String adapterId, LoraAdapter adapter) {
    if (slotOf.containsKey(adapterId)) {
      return true;
    }
    return window(pagesFor(adapter)) >= 0 && (freeSlotId() >= 0 || leastRecentEvictable() >= 0);
  }

  /**
   * Pins the adapter in a slot, writing its weights there if it is not resident (evicting the least
   * recently used unpinned adapters whose pages it needs). Returns the slot, or -1 when it is being
   * written or no run of pages long enough is free of KV and pinned adapters.
   *
   * @throws IllegalArgumentException when the adapter's rank exceeds maxRank or it targets a
   *     projection without adapter rows
   */
  public int acquire(LoraAdapter adapter) {
    return acquire(adapter.id(), adapter);
  }

  /**
   * {@link #acquire(LoraAdapter)} under the id the engine was asked for ({@code key}, the catalog's
   * adapter id), which is the id {@link #invalidate} and {@link #slotOf} take; the loaded copy's
   * own {@link LoraAdapter#id()} is its directory name and may differ.
   */
  public int acquire(String key, LoraAdapter adapter) {
    Integer resident = slotOf.get(key);
    if (resident != null && slotCopy[resident] != adapter) {
      invalidate(key); // another copy of this id: never serve the old one's weights
      resident = null;
    }
    int slot;
    if (resident != null) {
      slot = resident;
      if (fills[slot] != null) {
        return -1; // being written: resident after the settleAll that sees it finished
      }
    } else {
      checkFits(adapter);
      int need = pagesFor(adapter);
      int first = window(need);
      if (first < 0) {
        return -1;
      }
      for (int g = first; g < first + need; g++) {
        int old = pool.owner(g);
        if (old >= 0) {
          evict(old);
        }
      }
      slot = freeSlotId();
      if (slot < 0) {
        int victim = leastRecentEvictable();
        if (victim < 0) {
          return -1;
        }
        evict(victim);
        slot = victim;
      }
      place(key, adapter, first, need, slot);
      // written on this thread (a direct filler): resident now; else after a later settleAll
      if (!fills[slot].isDone() || !settle(slot)) {
        return -1;
      }
    }
    pins[slot]++;
    lastUse[slot] = ++clock;
    return slot;
  }

  /**
   * Gives the free pages from {@code first} to {@code slot} and starts writing the adapter: {@code
   * need} pages are free there ({@link #pagesFor}, which counts a whole row of padding per
   * projection), and the run takes only those its rows reach from this {@code first}.
   */
  private void place(String key, LoraAdapter adapter, int first, int need, int slot) {
    int used = layout(slot, first, adapter);
    int top = first + need - used; // the top of the window: adapters grow down from the top
    if (top > first) {
      int usedAtTop = layout(slot, top, adapter);
      if (top + usedAtTop <= first + need) {
        first = top;
        used = usedAtTop;
      } else {
        layout(slot, first, adapter);
      }
    }
    pool.assign(first, used, slot);
    runStart[slot] = first;
    runPages[slot] = used;
    retired[slot] = false;
    slotAdapter[slot] = key;
    slotCopy[slot] = adapter;
    hotSlot[slot] = hot.contains(key) && hotPages() + used <= sharePages;
    slotOf.put(key, slot);
    loads++;
    fills[slot] = CompletableFuture.supplyAsync(() -> write(slot, adapter), filler);
    fills[slot].whenComplete((rows, error) -> onWritten.run());
  }

  /**
   * Starts writing the adapter of a queued request into pages nobody holds, without pinning it and
   * without evicting anything, while at least an eighth of the pool stays free for KV: so that it
   * is resident by the time its request gets a seat. Returns whether a write was started.
   */
  public boolean prefetch(String key, LoraAdapter adapter) {
    if (slotOf.containsKey(key)) {
      return false;
    }
    int need = pagesFor(adapter);
    if (pool.freePages() - need < pool.pages() / 8) {
      return false;
    }
    int first = freeWindow(need);
    int slot = freeSlotId();
    if (first < 0 || slot < 0) {
      return false;
    }
    checkFits(adapter);
    place(key, adapter, first, need, slot);
    lastUse[slot] = ++clock;
    return true;
  }

  /** The first page of the highest run of {@code need} free pages, or -1. */
  private int freeWindow(int need) {
    int run = 0;
    for (int p = pool.pages() - 1; p >= 0; p--) {
      run = pool.owner(p) == PagePool.FREE ? run + 1 : 0;
      if (run == need) {
        return p;
      }
    }
    return -1;
  }

  /** Undoes one {@link #acquire}; the adapter stays resident until its slot is needed. */
  public void release(int slot) {
    if (slot < 0 || slot >= slots || pins[slot] == 0) {
      throw new IllegalStateException("slot " + slot + " is not pinned");
    }
    pins[slot]--;
    if (pins[slot] == 0 && retired[slot] && fills[slot] == null) {
      clear(slot);
    }
  }

  /**
   * Forgets the adapter's slot, so that the next {@link #acquire} of that id writes its weights
   * again: freed now when no sequence pins it, otherwise retired (the running sequences finish on
   * the weights they started with) and freed at its last {@link #release}. Returns whether the
   * adapter was resident.
   */
  public boolean invalidate(String adapterId) {
    Integer slot = slotOf.remove(adapterId);
    if (slot == null) {
      return false;
    }
    invalidations++;
    if (pins[slot] == 0 && fills[slot] == null) {
      clear(slot);
    } else {
      retired[slot] = true; // freed at its last release, or when its write has finished
    }
    return true;
  }

  /**
   * Whether the slot's write has finished (true also when there was none), taking its ranks then; a
   * slot retired while it was written is freed. A failed write frees the slot and is rethrown: the
   * backend could not take the adapter's rows.
   */
  private boolean settle(int slot) {
    CompletableFuture<int[]> f = fills[slot];
    if (f == null) {
      return true;
    }
    if (!f.isDone()) {
      return false;
    }
    fills[slot] = null;
    int[] written;
    try {
      written = f.join();
    } catch (java.util.concurrent.CompletionException e) {
      String key = slotAdapter[slot];
      if (key != null) {
        slotOf.remove(key, slot);
      }
      clear(slot);
      throw new IllegalStateException(
          "writing adapter '" + key + "' into the backend's adapter pool failed", e.getCause());
    }
    for (Proj p : targets) {
      ranks[p.ordinal()][slot] = written[p.ordinal()];
    }
    if (retired[slot] && pins[slot] == 0) {
      clear(slot);
      return false;
    }
    return true;
  }

  /**
   * Settles every finished write: those adapters are resident from now on (and may be evicted
   * again). The engine calls it once at the start of a step and nowhere else, so that within a step
   * an adapter being written stays so for every sequence: a later request of it is never admitted
   * ahead of an earlier one that found it being written.
   */
  public void settleAll() {
    for (int s = 0; s < slots; s++) {
      if (fills[s] != null) {
        settle(s);
      }
    }
  }

  /** Adapters being written into the pool now. */
  public int filling() {
    int n = 0;
    for (CompletableFuture<int[]> f : fills) {
      n += f != null ? 1 : 0;
    }
    return n;
  }

  /** Frees the slot and its pages. */
  private void clear(int slot) {
    slotAdapter[slot] = null;
    slotCopy[slot] = null;
    retired[slot] = false;
    hotSlot[slot] = false;
    if (runPages[slot] > 0) {
      pool.release(runStart[slot], runPages[slot], slot);
    }
    runPages[slot] = 0;
    for (int[] r : ranks) {
      r[slot] = 0;
    }
  }

  /** Evicts a resident adapter that no sequence pins. */
  private void evict(int slot) {
    if (slotAdapter[slot] != null) {
      slotOf.remove(slotAdapter[slot], slot);
    }
    evictions++;
    clear(slot);
  }

  /**
   * Run on the writing thread each time a write into the pool finishes (the engine's loop wakes on
   * it, so that the requests waiting for that adapter are admitted at once).
   */
  public void onWritten(Runnable r) {
    onWritten = r;
  }

  /**
   * The adapters the requests next in line need (the engine sets them every step): when the pool
   * must evict, it evicts the others first, least recently used first, and these only when nothing
   * else can make room.
   */
  public void wanted(Set<String> adapterIds) {
    wanted = adapterIds;
  }

  /** The order adapters are evicted in, lowest first: wanted ones after all others. */
  private long evictionAge(int slot) {
    String id = slotAdapter[slot];
    return lastUse[slot] + (id != null && wanted.contains(id) ? WANTED_AGE : 0);
  }

  private static final long WANTED_AGE = 1L << 48;

  /** Whether the slot's adapter may be evicted now. */
  private boolean evictable(int slot) {
    return runPages[slot] > 0 && pins[slot] == 0 && fills[slot] == null && !hotSlot[slot];
  }

  /** The evictable slot used least recently, or -1. */
  private int leastRecentEvictable() {
    int best = -1;
    for (int s = 0; s < slots; s++) {
      if (evictable(s) && (best < 0 || evictionAge(s) < evictionAge(best))) {
        best = s;
      }
    }
    return best;
  }

  @Override
  public int evictablePages() {
    int n = 0;
    for (int s = 0; s < slots; s++) {
      if (evictable(s)) {
        n += runPages[s];
      }
    }
    return n;
  }

  /** Evicts the least recently used adapter no sequence pins, so that KV can have its pages. */
  @Override
  public boolean evictOne() {
    int s = leastRecentEvictable();
    if (s < 0) {
      return false;
    }
    evict(s);
    return true;
  }

  private int hotPages() {
    int n = 0;
    for (int s = 0; s < slots; s++) {
      n += hotSlot[s] ? runPages[s] : 0;
    }
    return n;
  }

  /**
   * Places the adapter's rows in the pages from {@code first}: per projection it targets, in {@link
   * Proj} order, its A rows in the key pages and its bT rows in the value pages, each starting on a
   * whole row of that projection's width.
   */
  private int layout(int slot, int first, LoraAdapter adapter) {
    long keyAt = (long) first * pageElements; // next free element of the run's key pages
    long valueAt = keyAt;
    int r = adapter.rank();
    for (Proj p : targets) {
      int pi = p.ordinal();
      if (!adapter.targets().contains(p)) {
        aRows[pi][slot] = 0;
        bRows[pi][slot] = 0;
        continue;
      }
      int in = p.inDim(cfg);
      int out = p.outDim(cfg);
      long ar = (keyAt + in - 1) / in;
      long br = (valueAt + out - 1) / out;
      aRows[pi][slot] = Math.toIntExact(ar);
      bRows[pi][slot] = Math.toIntExact(br);
      keyAt = (ar + r) * in;
      valueAt = (br + r) * out;
    }
    long used = Math.max(keyAt, valueAt) - (long) first * pageElements;
    return (int) Math.max(1, (used + pageElements - 1) / pageElements);
  }

  /** Number of resident adapters dropped by {@link #invalidate} (or replaced by another copy). */
  public long invalidations() {
    return invalidations;
  }

  public int pins(int slot) {
    return pins[slot];
  }

  /** Adapter id resident in the slot, or null. */
  public String adapterIn(int slot) {
    return slotAdapter[slot];
  }

  /** Number of adapter writes into slots so far. */
  public long loads() {
    return loads;
  }

  public long evictions() {
    return evictions;
  }

  /**
   * Throws, naming the config key to change, unless the adapter's rank and targets fit these slots.
   * Run at {@link #acquire} and, off the engine thread, right after an adapter is loaded.
   */
  public void checkFits(LoraAdapter adapter) {
    if (adapter.rank() > maxRank) {
      throw new IllegalArgumentException(
          "adapter '"
              + adapter.id()
              + "' has rank "
              + adapter.rank()
              + " above the maximum "
              + maxRank
              + " (raise lorastream.lora.max-rank)");
    }
    for (Proj p : adapter.targets()) {
      if (!hasTarget(p)) {
        throw new IllegalArgumentException(
            "adapter '"
                + adapter.id()
                + "' targets "
                + p.hfName()
                + " but the engine has LoRA slots only for "
                + targets
                + " (set lorastream.lora.targets)");
      }
    }
  }

  /**
   * The first page of the best run of {@code need} pages, searched from the high end: a free one,
   * else the one whose adapters (none pinned or hot) were used least recently, fewer evicted pages
   * breaking ties; -1 when every run holds KV or an adapter that may not be evicted.
   */
  private int window(int need) {
    int free = freeWindow(need); // the common case, in one pass over the pages
    if (free >= 0) {
      return free;
    }
    long[] ageOf = new long[slots]; // each slot's eviction order, looked up once
    boolean[] movable = new boolean[slots];
    for (int s = 0; s < slots; s++) {
      ageOf[s] = runPages[s] > 0 ? evictionAge(s) : 0;
      movable[s] = evictable(s);
    }
    // one pass, sliding the run down a page at a time: the blocked and used pages in it are
    // counted, and the most recent use among its pages is the head of a deque of pages whose ages
    // fall from head to tail (so each page enters and leaves it once)
    int pages = pool.pages();
    int[] deque = new int[need];
    int head = 0;
    int size = 0;
    int blocked = 0;
    int used = 0;
    int best = -1;
    long bestAge = Long.MAX_VALUE;
    int bestUsed = Integer.MAX_VALUE;
    for (int g = pages - 1; g >= 0; g--) {
      int o = pool.owner(g);
      blocked += o == PagePool.KV || (o >= 0 && !movable[o]) ? 1 : 0;
      used += o >= 0 ? 1 : 0;
      int first = g;
      int last = g + need - 1;
      if (last + 1 < pages) { // the page above the run left it
        int out = pool.owner(last + 1);
        blocked -= out == PagePool.KV || (out >= 0 && !movable[out]) ? 1 : 0;
        used -= out >= 0 ? 1 : 0;
      }
      while (size > 0 && deque[head] > last) {
        head = (head + 1) % need;
        size--;
      }
      long age = o >= 0 ? ageOf[o] : 0;
      while (size > 0 && pageAge(deque[(head + size - 1) % need], ageOf) <= age) {
        size--;
      }
      deque[(head + size) % need] = g;
      size++;
      if (last >= pages || blocked > 0) { // not whole yet, or holds KV or a pinned adapter
        continue;
      }
      long runAge = pageAge(deque[head], ageOf);
      if (runAge < bestAge || (runAge == bestAge && used < bestUsed)) {
        best = first;
        bestAge = runAge;
        bestUsed = used;
      }
    }
    return best;
  }

  /** The eviction order of the adapter on page {@code g}, 0 for a free page. */
  private long pageAge(int g, long[] ageOf) {
    int o = pool.owner(g);
    return o >= 0 ? ageOf[o] : 0;
  }

  /** An empty slot id, or -1 when every one holds an adapter. */
  private int freeSlotId() {
    for (int s = 0; s < slots; s++) {
      if (runPages[s] == 0) {
        return s;
      }
    }
    return -1;
  }

  /**
   * Writes the adapter's rows at the slot's {@link #layout} (B transposed and scaled), on the
   * filler; returns the rank per projection ordinal (0 where it has no weights), taken by {@link
   * #settle}.
   */
  private int[] write(int slot, LoraAdapter adapter) {
    float scale = adapter.scale();
    int r = adapter.rank();
    int[] written = new int[Proj.values().length];
    for (Proj p : targets) {
      int pi = p.ordinal();
      if (!adapter.targets().contains(p)) {
        continue; // rank 0: its rows are never read
      }
      int ar = aRows[pi][slot];
      int br = bRows[pi][slot];
      for (int l = 0; l < numLayers; l++) {
        LoraWeights w = adapter.weights(l, p);
        if (w == null) { // this layer has no weights for p: its rows must read as zero
          ops.writeRows(a[pi][l], ar, new float[r * a[pi][l].dim(1)], r, 1f);
          ops.writeRows(bT[pi][l], br, new float[r * bT[pi][l].dim(1)], r, 1f);
          continue;
        }
        ops.writeRows(a[pi][l], ar, w.a(), r, 1f);
        ops.writeRows(bT[pi][l], br, transpose(w.b(), bT[pi][l].dim(1), r), r, scale);
      }
      written[pi] = r;
    }
    return written;
  }

  /** b {@code [out, r]} → bT {@code [r, out]}. */
  static float[] transpose(float[] b, int out, int r) {
    float[] t = new float[b.length];
    for (int o = 0; o < out; o++) {
      for (int k = 0; k < r; k++) {
        t[k * out + o] = b[o * r + k];
      }
    }
    return t;
  }

  /** Ids of resident adapters, in slot order (null for empty slots), for tests and metrics. */
  public List<String> residents() {
    List<String> out = new ArrayList<>(slots);
    for (String s : slotAdapter) {
      out.add(s);
    }
    return out;
  }
}
