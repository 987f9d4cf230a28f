package dev.lorastream.engine.lora;

import dev.lorastream.engine.config.ModelConfig;
import dev.lorastream.engine.config.Proj;
import dev.lorastream.engine.ops.Ops;
import dev.lorastream.engine.ops.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;

/**
 * The backend's adapter pool: LoRA weights at their true rank in row buffers, and the LRU that
 * decides which adapter lives where (vLLM's adapter manager, S-LoRA's device-resident adapter set
 * stored by rank row as in S-LoRA's unified paging).
 *
 * <p>Per layer and targeted projection: {@code a [poolRows, in]} and {@code bT [poolRows, out]} (B
 * transposed and pre-multiplied by the adapter's scale). The pool has {@code maxLoras · maxRank}
 * rows (the bytes that {@code maxLoras} adapters of the largest rank need), handed out in granules
 * of {@link #granule} rows: an adapter of rank r takes r rounded up to a granule, in one contiguous
 * run of rows that is the same in every buffer, so smaller adapters leave room for more of them (a
 * pool that holds 32 adapters of rank 64 holds 256 of rank 8). Slot {@code s} owns rows {@link
 * #rowStarts()}{@code [s]} .. {@code + ranks(p)[s] - 1}; {@code ranks[proj][slot]} is 0 where the
 * slot's adapter does not target that projection or the slot is empty. A slot in use by a running
 * sequence is pinned (reference-counted) and never evicted; when no free run is long enough, the
 * run whose adapters were used least recently (none of them pinned) is evicted.
 *
 * <p>Writing an adapter's rows (B transposed and scaled, converted to the pool's dtype, copied to
 * the backend) runs on the {@code filler} executor, not on the engine thread: {@link #acquire}
 * reserves the rows and returns -1, and a later {@link #acquire} pins the slot once the write has
 * finished, so running sequences keep decoding while an adapter is brought in. Rows being written
 * are never evicted and never read (no batch holds the slot yet).
 *
 * <p>A slot holds one loaded copy of an adapter ({@link LoraAdapter} instance) and is reused only
 * for that same copy: a different copy of the same id (reloaded after {@link #invalidate}, or after
 * the host cache dropped it) never runs on the weights of the old one. {@link #invalidate} drops an
 * adapter's slot at once when no sequence pins it; a pinned slot is retired instead (its sequences
 * keep the weights they started with, new acquires get another slot) and freed at its last {@link
 * #release}. Not thread-safe: the engine thread owns it.
 */
public final class AdapterSlots {
  private final Ops ops;
  private final int numLayers;
  private final int maxLoras;
  private final int maxRank;
  private final int granule; // rows per allocation unit
  private final int slots; // slot ids: at most one adapter per granule
  private final Set<Proj> targets;
  private final Tensor[][] a; // [Proj][layer] of [poolRows, in]
  private final Tensor[][] bT; // [Proj][layer] of [poolRows, out]
  private final int[][] ranks; // [Proj][slots]
  private final int[] rowStarts; // [slots] first row of the slot's run
  private final int[] runGranules; // [slots] length of the slot's run, 0 when empty
  private final int[] owner; // [poolRows / granule] slot owning the granule, or -1
  private final String[] slotAdapter; // [slots] adapter id or null
  private final LoraAdapter[] slotCopy; // [slots] the loaded copy written there, or null
  private final boolean[] retired; // [slots] invalidated while pinned: freed at the last release
  private final int[] pins; // [slots]
  private final long[] lastUse; // [slots]
  private final CompletableFuture<int[]>[] fills; // [slots] a write in flight, or null
  private final Executor filler;
  private final Map<String, Integer> slotOf = new HashMap<>();
  private long clock;
  private long loads;
  private long evictions;
  private long invalidations;

  /**
   * @param maxLoras the pool holds this many adapters of rank {@code maxRank} (more of smaller
   *     ranks)
   * @param targets projections that get row buffers; an adapter targeting another one is refused at
   *     {@link #acquire}
   */
  public AdapterSlots(Ops ops, ModelConfig cfg, int maxLoras, int maxRank, Set<Proj> targets) {
    this(ops, cfg, maxLoras, maxRank, targets, Runnable::run);
  }

  /**
   * @param filler runs the writes of adapters into the pool (the engine's loader threads), so that
   *     the engine thread never waits for them: an adapter being written is not resident yet, and
   *     {@link #acquire} of it returns -1 until the write has finished
   */
  @SuppressWarnings("unchecked")
  public AdapterSlots(
      Ops ops, ModelConfig cfg, int maxLoras, int maxRank, Set<Proj> targets, Executor filler) {
    if (maxLoras <= 0 || maxRank <= 0) {
      throw new IllegalArgumentException(
          "maxLoras and maxRank must be positive, got " + maxLoras + " and " + maxRank);
    }
    this.ops = ops;
    this.numLayers = cfg.numLayers();
    this.maxLoras = maxLoras;
    this.maxRank = maxRank;
    this.granule = Math.min(GRANULE, maxRank);
    int perAdapter = granulesFor(maxRank);
    this.slots = maxLoras * perAdapter;
    int poolRows = slots * granule;
    this.targets = targets.isEmpty() ? EnumSet.noneOf(Proj.class) : EnumSet.copyOf(targets);
    int np = Proj.values().length;
    this.a = new Tensor[np][];
    this.bT = new Tensor[np][];
    this.ranks = new int[np][slots];
    for (Proj p : this.targets) {
      a[p.ordinal()] = new Tensor[numLayers];
      bT[p.ordinal()] = new Tensor[numLayers];
      for (int l = 0; l < numLayers; l++) {
        a[p.ordinal()][l] = ops.allocate(ops.activationDType(), poolRows, p.inDim(cfg));
        bT[p.ordinal()][l] = ops.allocate(ops.activationDType(), poolRows, p.outDim(cfg));
      }
    }
    this.rowStarts = new int[slots];
    this.runGranules = new int[slots];
    this.owner = new int[slots];
    Arrays.fill(owner, -1);
    this.slotAdapter = new String[slots];
    this.slotCopy = new LoraAdapter[slots];
    this.retired = new boolean[slots];
    this.pins = new int[slots];
    this.lastUse = new long[slots];
    this.fills = new CompletableFuture[slots];
    this.filler = filler;
  }

  /** Rows per allocation unit at most: an adapter's rank is rounded up to a multiple of it. */
  public static final int GRANULE = 8;

  private int granulesFor(int rank) {
    return Math.max(1, (rank + granule - 1) / granule);
  }

  /** Slot ids (the length of {@link #ranks} and {@link #rowStarts}): one per granule. */
  public int slots() {
    return slots;
  }

  /** Rows of every buffer of the pool. */
  public int poolRows() {
    return slots * granule;
  }

  /** Rows per allocation unit. */
  public int granule() {
    return granule;
  }

  /** Rows held by resident adapters (retired ones included until freed). */
  public int usedRows() {
    int n = 0;
    for (int g : runGranules) {
      n += g;
    }
    return n * granule;
  }

  /** Adapters resident now (retired ones included until freed). */
  public int residentCount() {
    int n = 0;
    for (int g : runGranules) {
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

  /** Whether projection {@code p} has slot buffers at all. */
  public boolean hasTarget(Proj p) {
    return a[p.ordinal()] != null;
  }

  public Tensor a(Proj p, int layer) {
    return a[p.ordinal()][layer];
  }

  public Tensor bT(Proj p, int layer) {
    return bT[p.ordinal()][layer];
  }

  /** Live ranks per slot for projection p ({@code [slots]}); do not modify. */
  public int[] ranks(Proj p) {
    return ranks[p.ordinal()];
  }

  /** First row of each slot's run ({@code [slots]}); do not modify. */
  public int[] rowStarts() {
    return rowStarts;
  }

  /** The slot holding {@code adapterId}, or -1. */
  public int slotOf(String adapterId) {
    return slotOf.getOrDefault(adapterId, -1);
  }

  /**
   * Whether {@link #acquire} of {@code adapter} would succeed now: it is resident, or a run of rows
   * long enough for its rank is free or held only by unpinned adapters.
   */
  public boolean hasRoomFor(String adapterId, LoraAdapter adapter) {
    return slotOf.containsKey(adapterId) || window(granulesFor(adapter.rank())) >= 0;
  }

  /**
   * Pins the adapter in a slot, writing its weights there if it is not resident (evicting the least
   * recently used unpinned adapters whose rows it needs). Returns the slot, or -1 when no run of
   * rows long enough is free of pinned adapters.
   *
   * @throws IllegalArgumentException when the adapter's rank exceeds maxRank or it targets a
   *     projection without slot buffers
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
      if (!settle(slot)) {
        return -1; // still being written
      }
    } else {
      checkFits(adapter);
      int need = granulesFor(adapter.rank());
      settleAll();
      int first = window(need);
      if (first < 0) {
        return -1;
      }
      for (int g = first; g < first + need; g++) {
        int old = owner[g];
        if (old >= 0) {
          if (slotAdapter[old] != null) {
            slotOf.remove(slotAdapter[old], old);
          }
          evictions++;
          clear(old);
        }
      }
      slot = freeSlotId();
      for (int g = first; g < first + need; g++) {
        owner[g] = slot;
      }
      rowStarts[slot] = first * granule;
      runGranules[slot] = need;
      retired[slot] = false;
      slotAdapter[slot] = key;
      slotCopy[slot] = adapter;
      slotOf.put(key, slot);
      loads++;
      int row = rowStarts[slot];
      fills[slot] = CompletableFuture.supplyAsync(() -> write(row, adapter), filler);
      if (!settle(slot)) {
        return -1; // written off this thread: resident at a later call
      }
    }
    pins[slot]++;
    lastUse[slot] = ++clock;
    return slot;
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

  /** Settles every finished write, so that their rows can be evicted again. */
  private void settleAll() {
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

  /** Frees the slot and its rows. */
  private void clear(int slot) {
    slotAdapter[slot] = null;
    slotCopy[slot] = null;
    retired[slot] = false;
    int first = rowStarts[slot] / granule;
    for (int g = first; g < first + runGranules[slot]; g++) {
      owner[g] = -1;
    }
    runGranules[slot] = 0;
    for (int[] r : ranks) {
      r[slot] = 0;
    }
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
   * The first granule of the best run of {@code need} granules: a free one, else the one whose
   * adapters (none pinned) were used least recently, fewer evicted rows breaking ties; -1 when
   * every run holds a pinned adapter.
   */
  private int window(int need) {
    int best = -1;
    long bestAge = Long.MAX_VALUE;
    int bestRows = Integer.MAX_VALUE;
    for (int first = 0; first + need <= owner.length; first++) {
      long age = 0; // most recent use among the run's adapters
      int rows = 0;
      boolean pinned = false;
      for (int g = first; g < first + need && !pinned; g++) {
        int s = owner[g];
        if (s >= 0) {
          pinned = pins[s] > 0 || fills[s] != null;
          age = Math.max(age, lastUse[s]);
          rows++;
        }
      }
      if (!pinned && (age < bestAge || (age == bestAge && rows < bestRows))) {
        best = first;
        bestAge = age;
        bestRows = rows;
        if (rows == 0) {
          return best;
        }
      }
    }
    return best;
  }

  /** An empty slot id; one exists whenever rows are free, since every adapter takes a granule. */
  private int freeSlotId() {
    for (int s = 0; s < slots; s++) {
      if (runGranules[s] == 0) {
        return s;
      }
    }
    throw new IllegalStateException("no free slot id although rows were free");
  }

  /**
   * Writes the adapter's rows from {@code row} on (B transposed and scaled), on the filler; returns
   * the rank per projection ordinal (0 where it has no weights), taken by {@link #settle}.
   */
  private int[] write(int row, LoraAdapter adapter) {
    float scale = adapter.scale();
    int r = adapter.rank();
    int[] written = new int[Proj.values().length];
    for (Proj p : targets) {
      int pi = p.ordinal();
      if (!adapter.targets().contains(p)) {
        continue; // rank 0: its rows are never read
      }
      for (int l = 0; l < numLayers; l++) {
        LoraWeights w = adapter.weights(l, p);
        if (w == null) { // this layer has no weights for p: its rows must read as zero
          ops.writeRows(a[pi][l], row, new float[r * a[pi][l].dim(1)], r, 1f);
          ops.writeRows(bT[pi][l], row, new float[r * bT[pi][l].dim(1)], r, 1f);
          continue;
        }
        ops.writeRows(a[pi][l], row, w.a(), r, 1f);
        ops.writeRows(bT[pi][l], row, transpose(w.b(), bT[pi][l].dim(1), r), r, scale);
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
