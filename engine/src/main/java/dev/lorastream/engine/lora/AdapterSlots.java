package dev.lorastream.engine.lora;

import dev.lorastream.engine.config.ModelConfig;
import dev.lorastream.engine.config.Proj;
import dev.lorastream.engine.ops.Ops;
import dev.lorastream.engine.ops.Tensor;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Backend slot buffers for LoRA weights and the LRU that decides which adapter lives in which slot
 * (vLLM's adapter manager, S-LoRA's device-resident adapter set).
 *
 * <p>Per layer and targeted projection: {@code a [maxLoras, maxRank, in]} and {@code bT [maxLoras,
 * maxRank, out]} (B transposed and pre-multiplied by the adapter's scale), plus {@code
 * ranks[proj][slot]}, the live rank of each slot (0 where the slot's adapter does not target that
 * projection). A slot in use by a running sequence is pinned (reference-counted) and never evicted.
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
  private final Set<Proj> targets;
  private final Tensor[][] a; // [Proj][layer] of [maxLoras, maxRank, in]
  private final Tensor[][] bT; // [Proj][layer] of [maxLoras, maxRank, out]
  private final int[][] ranks; // [Proj][maxLoras]
  private final String[] slotAdapter; // [maxLoras] adapter id or null
  private final LoraAdapter[] slotCopy; // [maxLoras] the loaded copy written there, or null
  private final boolean[] retired; // [maxLoras] invalidated while pinned: freed at the last release
  private final int[] pins; // [maxLoras]
  private final long[] lastUse; // [maxLoras]
  private final Map<String, Integer> slotOf = new HashMap<>();
  private long clock;
  private long loads;
  private long evictions;
  private long invalidations;

  /**
   * @param targets projections that get slot buffers; an adapter targeting another one is refused
   *     at {@link #acquire}
   */
  public AdapterSlots(Ops ops, ModelConfig cfg, int maxLoras, int maxRank, Set<Proj> targets) {
    if (maxLoras <= 0 || maxRank <= 0) {
      throw new IllegalArgumentException(
          "maxLoras and maxRank must be positive, got " + maxLoras + " and " + maxRank);
    }
    this.ops = ops;
    this.numLayers = cfg.numLayers();
    this.maxLoras = maxLoras;
    this.maxRank = maxRank;
    this.targets = targets.isEmpty() ? EnumSet.noneOf(Proj.class) : EnumSet.copyOf(targets);
    int np = Proj.values().length;
    this.a = new Tensor[np][];
    this.bT = new Tensor[np][];
    this.ranks = new int[np][maxLoras];
    for (Proj p : this.targets) {
      a[p.ordinal()] = new Tensor[numLayers];
      bT[p.ordinal()] = new Tensor[numLayers];
      for (int l = 0; l < numLayers; l++) {
        a[p.ordinal()][l] = ops.allocate(ops.activationDType(), maxLoras, maxRank, p.inDim(cfg));
        bT[p.ordinal()][l] = ops.allocate(ops.activationDType(), maxLoras, maxRank, p.outDim(cfg));
      }
    }
    this.slotAdapter = new String[maxLoras];
    this.slotCopy = new LoraAdapter[maxLoras];
    this.retired = new boolean[maxLoras];
    this.pins = new int[maxLoras];
    this.lastUse = new long[maxLoras];
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

  /** Live ranks per slot for projection p ({@code [maxLoras]}); do not modify. */
  public int[] ranks(Proj p) {
    return ranks[p.ordinal()];
  }

  /** The slot holding {@code adapterId}, or -1. */
  public int slotOf(String adapterId) {
    return slotOf.getOrDefault(adapterId, -1);
  }

  /**
   * Whether a slot is free or evictable now, so that {@link #acquire} of a new adapter would
   * succeed.
   */
  public boolean hasRoomFor(String adapterId) {
    if (slotOf.containsKey(adapterId)) {
      return true;
    }
    for (int s = 0; s < maxLoras; s++) {
      if (pins[s] == 0) {
        return true;
      }
    }
    return false;
  }

  /**
   * Pins the adapter in a slot, writing its weights there if it is not resident (evicting the least
   * recently used unpinned slot). Returns the slot, or -1 when every slot is pinned.
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
    } else {
      checkFits(adapter);
      slot = victim();
      if (slot < 0) {
        return -1;
      }
      if (slotAdapter[slot] != null) {
        slotOf.remove(slotAdapter[slot], slot);
        evictions++;
      }
      retired[slot] = false;
      write(slot, adapter);
      slotAdapter[slot] = key;
      slotCopy[slot] = adapter;
      slotOf.put(key, slot);
      loads++;
    }
    pins[slot]++;
    lastUse[slot] = ++clock;
    return slot;
  }

  /** Undoes one {@link #acquire}; the adapter stays resident until its slot is needed. */
  public void release(int slot) {
    if (slot < 0 || slot >= maxLoras || pins[slot] == 0) {
      throw new IllegalStateException("slot " + slot + " is not pinned");
    }
    pins[slot]--;
    if (pins[slot] == 0 && retired[slot]) {
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
    if (pins[slot] == 0) {
      clear(slot);
    } else {
      retired[slot] = true;
    }
    return true;
  }

  private void clear(int slot) {
    slotAdapter[slot] = null;
    slotCopy[slot] = null;
    retired[slot] = false;
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

  private int victim() {
    int best = -1;
    for (int s = 0; s < maxLoras; s++) {
      if (pins[s] > 0) {
        continue;
      }
      if (slotAdapter[s] == null) {
        return s;
      }
      if (best < 0 || lastUse[s] < lastUse[best]) {
        best = s;
      }
    }
    return best;
  }

  private void write(int slot, LoraAdapter adapter) {
    float scale = adapter.scale();
    for (Proj p : targets) {
      int pi = p.ordinal();
      LoraWeights any = null;
      for (int l = 0; l < numLayers; l++) {
        LoraWeights w = adapter.weights(l, p);
        if (w == null) {
          ops.writeSlot(a[pi][l], slot, new float[0], 0, 1f);
          ops.writeSlot(bT[pi][l], slot, new float[0], 0, 1f);
          continue;
        }
        any = w;
        int r = adapter.rank();
        ops.writeSlot(a[pi][l], slot, w.a(), r, 1f);
        ops.writeSlot(bT[pi][l], slot, transpose(w.b(), bT[pi][l].dim(2), r), r, scale);
      }
      ranks[pi][slot] = any == null ? 0 : adapter.rank();
    }
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
    List<String> out = new ArrayList<>(maxLoras);
    for (String s : slotAdapter) {
      out.add(s);
    }
    return out;
  }
}
