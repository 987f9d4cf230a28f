package dev.lorastream.engine.sched;

import dev.lorastream.engine.config.ModelConfig;
import dev.lorastream.engine.kv.KvCache;
import dev.lorastream.engine.kv.PagePool;
import dev.lorastream.engine.lora.AdapterSlots;
import dev.lorastream.engine.lora.AdapterSource;
import dev.lorastream.engine.lora.LoraAdapter;
import dev.lorastream.engine.model.LlamaModel;
import dev.lorastream.engine.model.StepBatch;
import dev.lorastream.engine.sample.Sampler;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.LongSupplier;

/**
 * Continuous batching over a {@link LlamaModel}: requests join and leave between steps; each step
 * runs the base model once for every scheduled token and each row through its own adapter. Adapters
 * are loaded on a background thread; a request whose adapter is still loading waits without holding
 * up the others.
 *
 * <p>A request leaves early when {@link #cancel}led ({@link EngineError#CANCELLED}) or when its
 * deadline passes ({@link EngineError#DEADLINE_EXCEEDED}), queued or running: at the start of the
 * next step, before anything of it is computed again, its KV blocks return to the free pool, its
 * adapter slot is released, and its future completes with the tokens and text generated so far.
 *
 * <p>{@link #submit}, {@link #cancel} and {@link #invalidateAdapter} may be called from any thread;
 * {@link #step} and {@link #runUntilIdle} from one engine thread only. Futures complete on the
 * engine thread.
 */
public final class Engine implements AutoCloseable {
  /** The system property with {@link #LOADER_THREADS}. */
  public static final String LOADER_THREADS_PROPERTY = "lorastream.adapters.loader-threads";

  /**
   * Threads reading and decoding adapters from disk (I/O and dtype conversion, off the engine
   * thread).
   */
  static final int LOADER_THREADS = Integer.getInteger(LOADER_THREADS_PROPERTY, 2);

  /**
   * The system property naming hot adapters (comma-separated catalog ids): once written into the
   * pool they stay, never evicted, while together they take at most the adapters' share of it.
   */
  public static final String HOT_ADAPTERS_PROPERTY = "lorastream.adapters.hot";

  private final LlamaModel model;
  private final ModelConfig cfg;
  private final KvCache kv;
  private final AdapterSlots slots; // null when no projection has LoRA slots
  private final AdapterCache adapters;
  private final Scheduler scheduler;
  private final TokenDecoder decoder; // null: no stop strings, empty text
  private final List<Integer> eosIds;
  private final ConcurrentLinkedQueue<Sequence> incoming = new ConcurrentLinkedQueue<>();
  // requests submitted and not yet taken by a step, and those waiting after the last step: a
  // request arriving behind a longer queue than the host cache's look-ahead starts no load
  private final AtomicInteger incomingCount = new AtomicInteger();
  private volatile int waitingAfterStep;
  private final Set<String> notLoadedThisStep = new HashSet<>(); // engine thread
  private final ConcurrentLinkedQueue<String> invalidated = new ConcurrentLinkedQueue<>();
  private final ExecutorService loader;
  private final EngineStats stats = new EngineStats();
  private final EarlyExits exits;
  private final RequestChecks checks;

  public Engine(LlamaModel model, EngineConfig ec, AdapterSource source, TokenDecoder decoder) {
    this(model, ec, source, decoder, System::currentTimeMillis);
  }

  /**
   * @param clockMs the wall clock in epoch milliseconds, against which request deadlines are
   *     checked (tests pass their own)
   */
  public Engine(
      LlamaModel model,
      EngineConfig ec,
      AdapterSource source,
      TokenDecoder decoder,
      LongSupplier clockMs) {
    this.model = model;
    this.exits = new EarlyExits(clockMs, stats);
    this.cfg = model.config();
    // one pool of pages: the KV blocks asked for plus room for max-loras adapters of max-rank,
    // which KV and adapters then share (S-LoRA's unified paging)
    int adapterShare =
        ec.loraTargets().isEmpty()
            ? 0
            : AdapterSlots.sharePages(
                cfg, ec.loraTargets(), ec.maxLoras(), ec.maxRank(), ec.blockSize());
    this.kv =
        new KvCache(
            model.ops(),
            cfg.numLayers(),
            Math.addExact(ec.kvBlocks(), adapterShare),
            ec.blockSize(),
            cfg.numKvHeads(),
            cfg.headDim());
    this.loader =
        Executors.newFixedThreadPool(
            LOADER_THREADS,
            r -> {
              Thread t = new Thread(r, "adapter-loader");
              t.setDaemon(true);
              return t;
            });
    this.slots =
        ec.loraTargets().isEmpty()
            ? null
            : new AdapterSlots(
                model.ops(), cfg, kv, ec.maxLoras(), ec.maxRank(), ec.loraTargets(), loader);
    if (slots != null) {
      slots.hot(hotAdapters(System.getProperty(HOT_ADAPTERS_PROPERTY, "")));
    }
    this.adapters =
        new AdapterCache(
            source,
            loader,
            ec.hostCacheBytes(),
            ec.adapterFailureTtlMs(),
            clockMs,
            System::nanoTime,
            this::checkAdapter);
    this.scheduler =
        new Scheduler(kv.allocator(), ec.blockSize(), ec.maxTokensPerStep(), ec.maxSeqs());
    this.decoder = decoder;
    int capacity = Math.min(cfg.maxPositionEmbeddings(), ec.kvBlocks() * ec.blockSize());
    this.checks = new RequestChecks(cfg, ec, capacity, decoder != null, exits::nowMs);
    List<Integer> eos = new ArrayList<>();
    for (int id : cfg.eosTokenIds()) {
      eos.add(id);
    }
    this.eosIds = List.copyOf(eos);
  }

  public EngineStats stats() {
    return stats;
  }

  /** The host adapter tier's counters and resident set now. Thread-safe. */
  public AdapterCacheStats adapterCacheStats() {
    return adapters.stats();
  }

  public AdapterSlots slots() {
    return slots;
  }

  public Scheduler scheduler() {
    return scheduler;
  }

  /**
   * Pages a KV block could be given now: free ones, and those of adapters no running sequence uses
   * (evicted when KV needs them). Exact on the engine thread between steps; elsewhere a snapshot
   * that may be stale.
   */
  public int freeKvBlocks() {
    return kv.allocator().numFree();
  }

  /**
   * The pages KV blocks and adapters share: {@link EngineConfig#kvBlocks} plus the pages of {@link
   * EngineConfig#maxLoras} adapters of {@link EngineConfig#maxRank}.
   */
  public int poolPages() {
    return kv.allocator().pages();
  }

  /** The page pool, for its occupancy (read it on the engine thread, or accept a stale view). */
  public PagePool pool() {
    return kv.allocator();
  }

  /**
   * Queues a request; the future completes with its result (errors are results, never exceptions).
   * A request is refused at once when it cannot be served: among others, {@link
   * EngineError#PROMPT_TOO_LONG} when prompt tokens plus {@code maxTokens} exceed the smaller of
   * the model context and the KV cache (it is never cut short silently).
   */
  public CompletableFuture<GenerationResult> submit(GenerationRequest r) {
    return submit(r, null);
  }

  /** {@link #submit(GenerationRequest)}, telling {@code tokens} (null: none) of each new token. */
  public CompletableFuture<GenerationResult> submit(GenerationRequest r, TokenListener tokens) {
    CompletableFuture<GenerationResult> f = new CompletableFuture<>();
    long now = System.nanoTime();
    GenerationResult refused = checks.refusal(r);
    if (refused != null) {
      f.complete(refused);
      return f;
    }
    // near the head of the queue: start the host load now; further back, the step that brings the
    // request within the look-ahead starts it (so a burst does not evict the loads it needs first)
    if (r.adapterId() != null) {
      if (waitingAfterStep + incomingCount.get() < adapters.lookahead()) {
        adapters.prefetch(r.adapterId());
      } else {
        adapters.countRequest(r.adapterId());
      }
    }
    Sequence s = new Sequence(r, f, now);
    s.listener = tokens;
    exits.numberSubmit(s);
    incomingCount.incrementAndGet();
    incoming.add(s);
    return f;
  }

  /**
   * Cancels every queued or running request with {@link GenerationRequest#id} {@code id} that was
   * submitted before this call: at the start of the next step it leaves the scheduler (so no step
   * that begins after this call computes it), its KV blocks return to the free pool, its adapter
   * slot is released, and its future completes with {@link EngineError#CANCELLED} and the tokens
   * and text generated so far. A request submitted after this call with the same id is not
   * affected. A cancel that finds no such request (unknown, or finished already) changes nothing
   * and is counted in {@link EngineStats#cancelsIgnored}. Thread-safe; a submit racing with this
   * call on another thread may or may not be cancelled.
   */
  public void cancel(String id) {
    exits.cancel(id);
  }

  /**
   * Drops every copy the engine holds of an adapter, because its catalog entry changed (new source,
   * new checksum, re-registered) or was deleted. Thread-safe; call it after the adapter source
   * answers with the new entry (or with none). On return the host cache has forgotten the adapter
   * (a loaded copy, a load in flight, or a remembered load failure), so every request admitted from
   * now on loads the adapter again from the source. The backend slot is dropped on the engine
   * thread at the next step: at once when no running sequence uses it, otherwise when the last of
   * them finishes; those sequences finish on the weights they started with. A slot is only ever
   * reused for the very copy that was written into it, so no request admitted after this call runs
   * on the old weights, even before that step.
   */
  public void invalidateAdapter(String adapterId) {
    adapters.invalidate(adapterId);
    invalidated.add(adapterId);
  }

  /** "a, b,,c" → {a, b, c}. */
  static Set<String> hotAdapters(String csv) {
    Set<String> ids = new LinkedHashSet<>();
    for (String id : csv.split(",")) {
      if (!id.isBlank()) {
        ids.add(id.trim());
      }
    }
    return ids;
  }

  /**
   * Runs {@code wake} (on a loader thread) whenever an adapter's host load or pool write finishes,
   * so that a loop parked while requests wait for adapters can step again at once.
   */
  public void onAdapterProgress(Runnable wake) {
    adapters.onLoaded(wake);
    if (slots != null) {
      slots.onWritten(wake);
    }
  }

  /** Whether nothing is queued or running and no cancel waits to be applied. */
  public boolean idle() {
    return incoming.isEmpty()
        && !exits.pending()
        && scheduler.numWaiting() == 0
        && scheduler.numRunning() == 0;
  }

  /** Runs steps until every submitted request has completed. */
  public void runUntilIdle() {
    while (!idle()) {
      if (!step()) {
        adapters.awaitAnyLoad();
      }
    }
  }

  /** Runs one step; false when there was nothing that could run now. */
  public boolean step() {
    publishAdapterInfoWhenDue();
    for (String id; (id = invalidated.poll()) != null; ) {
      if (slots != null) {
        slots.invalidate(id);
      }
    }
    if (slots != null) {
      slots.settleAll(); // adapters whose pool write finished are resident for this whole step
    }
    for (Sequence s; (s = incoming.poll()) != null; ) {
      incomingCount.decrementAndGet();
      scheduler.add(s);
    }
    for (EarlyExits.Exit x : exits.due(scheduler)) {
      end(x.seq(), FinishReason.ERROR, null, x.code(), x.message());
    }
    failUnloadableAdapters();
    notLoadedThisStep.clear();
    List<Scheduler.Work> work = scheduler.schedule(this::admit, this::releaseSlot);
    lookAhead();
    if (work.isEmpty()) {
      if (ranSincePublished) {
        // going idle: publish what the last steps left (the adapters written, the work done), as
        // no step will publish it until new work comes
        publishAdapterInfo();
      }
      return false;
    }
    ranSincePublished = true;
    long t0 = System.nanoTime();
    work.sort(Comparator.comparingInt(w -> w.seq().slot)); // one contiguous segment per adapter
    StepBatch batch = StepBatches.build(work, kv.blockSize());
    float[] logits = model.forward(batch, kv, slots);
    int vocab = cfg.vocabSize();
    int row = 0;
    int sampled = 0;
    for (Scheduler.Work w : work) {
      Sequence s = w.seq();
      if (s.firstComputeNanos == 0) {
        s.firstComputeNanos = t0;
      }
      s.computed = w.start() + w.count();
      if (!w.samples()) {
        continue;
      }
      int token = Sampler.sample(logits, row * vocab, vocab, s.request.params(), s.generated());
      row++;
      sampled++;
      advance(s, token);
    }
    stats.recordStep(batch.numTokens(), sampled, work.size(), System.nanoTime() - t0);
    return true;
  }

  private void advance(Sequence s, int token) {
    var p = s.request.params();
    long now = System.nanoTime();
    if (s.firstTokenNanos == 0) {
      s.firstTokenNanos = now;
    }
    if ((!p.ignoreEos() && eosIds.contains(token)) || p.stopTokenIds().contains(token)) {
      finish(s, FinishReason.STOP, null);
      return;
    }
    s.append(token);
    if (s.listener != null) {
      s.listener.onToken(s.generated() - 1, token);
    }
    if (s.stops != null) { // refusal() made sure there is a decoder
      String text = s.stops.cut(decoder, s.tokens, s.promptLength(), s.length);
      if (text != null) {
        finish(s, FinishReason.STOP, text);
        return;
      }
    }
    if (s.generated() >= p.maxTokens() || s.length >= checks.capacity()) {
      finish(s, FinishReason.LENGTH, null);
    }
  }

  private void finish(Sequence s, FinishReason reason, String text) {
    end(s, reason, text, null, null);
    stats.recordFinish(s.generated());
  }

  /**
   * Takes {@code s} out of the scheduler (its KV blocks freed), releases its adapter slot and
   * completes its future with the tokens so far; {@code code} null for a normal finish.
   */
  private void end(Sequence s, FinishReason reason, String text, EngineError code, String message) {
    int[] gen = s.generatedTokens();
    // decoded while the sequence is still tracked: if the decoder throws, failAll still completes
    // it
    String out = text != null ? text : decoder == null ? "" : decoder.decode(gen);
    scheduler.remove(s);
    releaseSlot(s);
    long now = System.nanoTime();
    s.future.complete(
        new GenerationResult(
            s.request.id(),
            gen,
            out,
            reason,
            s.promptLength(),
            code,
            message,
            s.firstComputeNanos - s.submitNanos,
            s.firstTokenNanos - s.submitNanos,
            now - s.submitNanos,
            s.preemptions));
  }

  private boolean admit(Sequence s) {
    String id = s.request.adapterId();
    if (id == null) {
      return true;
    }
    // a preempted sequence comes back on the copy it ran on, even if the adapter was invalidated
    // an adapter not loaded when an earlier request of this step looked stays so for the step,
    // even if its load finishes meanwhile: a later request of it is never admitted ahead
    LoraAdapter a =
        s.adapter != null
            ? s.adapter
            : notLoadedThisStep.contains(id) ? null : adapters.loadedOrNull(id);
    if (a == null) {
      notLoadedThisStep.add(id);
      return false;
    }
    int slot = slots.acquire(id, a);
    if (slot < 0) {
      return false;
    }
    s.slot = slot;
    s.adapter = a;
    return true;
  }

  /** Distinct adapters of queued requests written into the pool ahead of admission, per step. */
  static final int PREFETCH_LOOKAHEAD = 8;

  /** Queued requests looked at per step for the adapters they will need. */
  static final int LOOKAHEAD_SCAN = 1024;

  /**
   * Readies the adapters of the queued requests next in line (in admission order): the first {@link
   * AdapterCache#lookahead} distinct ones are kept in host memory (a load starts for each one not
   * there, and they become the most recently used, so loads for requests further back evict other
   * adapters first); the pool keeps them rather than unwanted ones when it must evict; and the
   * first {@link #PREFETCH_LOOKAHEAD} of them are written into free pages of the pool before they
   * are admitted (at most two writes started per step), so that a request whose turn comes finds
   * its adapter resident.
   */
  private void lookAhead() {
    waitingAfterStep = scheduler.numWaiting();
    int window = adapters.lookahead();
    List<String> next = new ArrayList<>();
    Set<String> seen = new HashSet<>();
    int looked = 0;
    for (Sequence s : scheduler.waiting()) {
      if (next.size() == window || looked++ == LOOKAHEAD_SCAN) {
        break;
      }
      String id = s.request.adapterId();
      if (id != null && s.adapter == null && seen.add(id)) {
        next.add(id);
      }
    }
    adapters.keepLoaded(next);
    if (slots == null) {
      return;
    }
    slots.wanted(seen);
    int started = 0;
    for (int i = 0; i < next.size() && i < PREFETCH_LOOKAHEAD && started < 2; i++) {
      String id = next.get(i);
      if (slots.slotOf(id) >= 0) {
        continue;
      }
      LoraAdapter a = adapters.readyOrNull(id);
      if (a != null && slots.prefetch(id, a)) {
        started++;
      }
    }
  }

  private void releaseSlot(Sequence s) {
    if (s.slot >= 0) {
      slots.release(s.slot);
      s.slot = -1;
    }
  }

  /** Waiting requests whose adapter failed to load get their error reply now. */
  private void failUnloadableAdapters() {
    // each failure is read once: invalidateAdapter may forget it from another thread meanwhile
    Map<Sequence, Throwable> failed = new LinkedHashMap<>();
    for (Sequence s : scheduler.waiting()) {
      String id = s.request.adapterId();
      Throwable t = id == null || s.adapter != null ? null : adapters.failure(id);
      if (t != null) {
        failed.put(s, t);
      }
    }
    for (Map.Entry<Sequence, Throwable> e : failed.entrySet()) {
      Sequence s = e.getKey();
      scheduler.removeWaiting(s);
      Throwable t = e.getValue();
      EngineError code =
          t instanceof NoSuchElementException
              ? EngineError.UNKNOWN_ADAPTER
              : EngineError.ADAPTER_INVALID;
      s.future.complete(
          GenerationResult.error(
              s.request.id(),
              s.promptLength(),
              code,
              String.valueOf(t.getMessage()),
              System.nanoTime() - s.submitNanos));
      stats.recordError();
    }
    adapters.forgetExpiredFailures(); // after the answers: no waiting request misses a failure
  }

  private void checkAdapter(LoraAdapter a) {
    if (slots == null) {
      throw new IllegalArgumentException(
          "adapter '"
              + a.id()
              + "' requested but the engine has no LoRA targets ("
              + EngineConfig.LORA_TARGETS
              + ")");
    }
    slots.checkFits(a);
  }

  /**
   * Completes every queued and running request with an error reply (after a fatal backend error),
   * so that no caller waits forever. Engine thread only.
   */
  public void failAll(EngineError code, String message) {
    List<Sequence> all = new ArrayList<>();
    for (Sequence s; (s = incoming.poll()) != null; ) {
      incomingCount.decrementAndGet();
      all.add(s);
    }
    scheduler.waiting().forEach(all::add);
    all.addAll(scheduler.running());
    for (Sequence s : all) {
      s.future.complete(
          GenerationResult.error(
              s.request.id(), s.promptLength(), code, message, System.nanoTime() - s.submitNanos));
    }
  }

  @Override
  public void close() {
    loader.shutdownNow();
  }

  private final AdapterInfoBoard adapterInfo =
      new AdapterInfoBoard(AdapterInfo.intervalMsFromProperty());
  private volatile AdapterResidency residency = AdapterResidency.EMPTY;
  private boolean ranSincePublished; // engine thread only

  /**
   * The adapters this engine holds, in its backend pool and in host memory, as the engine thread
   * published it last: recomputed with the {@link #adapterInfo} snapshot (at the start of a step
   * once {@link AdapterInfo#INTERVAL_MS_PROPERTY} has passed, when the engine goes idle, and by
   * {@link #publishAdapterInfo}), so at most that old plus one step; empty before the first step.
   * Thread-safe; immutable.
   */
  public AdapterResidency residency() {
    return residency;
  }

  /**
   * Per adapter with queued or running work, its running and waiting sequences and tier, busiest
   * first: the snapshot the engine thread published last. It recomputes it at the start of a step
   * once {@link AdapterInfo#INTERVAL_MS_PROPERTY} (1 s) has passed on the engine's clock, and at
   * the first step that finds nothing to run after steps that ran, so it is at most that old plus
   * one step; empty before the first step. Thread-safe; immutable.
   */
  public List<AdapterInfo> adapterInfo() {
    return adapterInfo.latest();
  }

  /**
   * Tells {@code listener} (null: nobody) of each {@link #adapterInfo} snapshot from now on, on the
   * engine thread, as it is published (the consumer's per-adapter meters follow it this way). It
   * must be quick; what it throws is printed once and otherwise ignored. Thread-safe.
   */
  public void onAdapterInfo(java.util.function.Consumer<List<AdapterInfo>> listener) {
    adapterInfo.listener(listener);
  }

  /**
   * Recomputes the {@link #adapterInfo} snapshot and the {@link #residency} now, publishes them and
   * returns the former, whatever the interval. Engine thread only (between steps), like {@link
   * #step}.
   */
  public List<AdapterInfo> publishAdapterInfo() {
    ranSincePublished = false;
    residency =
        new AdapterResidency(
            backendResidents(), adapters.residents().reversed()); // host: most recent first
    Map<String, AdapterInfo.Tier> host = adapters.tiers();
    List<AdapterInfo> snapshot =
        AdapterInfoBoard.snapshot(
            scheduler.running(),
            List.of(scheduler.waiting(), incoming),
            id ->
                slots != null && slots.slotOf(id) >= 0
                    ? AdapterInfo.Tier.BACKEND
                    : host.getOrDefault(id, AdapterInfo.Tier.NONE));
    return adapterInfo.publish(snapshot, exits.nowMs());
  }

  /**
   * Ids of the adapters in the pool's slots, in slot order: a slot whose adapter was invalidated
   * while sequences still used it (retired, freed at its last release) is left out, as a new
   * request for that id would write it again. Engine thread only.
   */
  private List<String> backendResidents() {
    if (slots == null) {
      return List.of();
    }
    List<String> inSlots = slots.residents();
    List<String> out = new ArrayList<>();
    for (int slot = 0; slot < inSlots.size(); slot++) {
      String id = inSlots.get(slot);
      if (id != null && slots.slotOf(id) == slot) {
        out.add(id);
      }
    }
    return out;
  }

  private void publishAdapterInfoWhenDue() {
    if (adapterInfo.due(exits.nowMs())) {
      publishAdapterInfo();
    }
  }
}
