package dev.lorastream.engine.sched;

import dev.lorastream.engine.lora.LoraAdapter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * Mutable state of one sequence in the engine: its tokens (prompt then generated), how many of them
 * have K/V in the cache, its KV blocks and its adapter slot. Owned by the engine thread.
 */
public final class Sequence {
  final GenerationRequest request;
  final CompletableFuture<GenerationResult> future;
  final long submitNanos;
  final StopStrings stops; // null: the request has none
  int[] tokens; // [length] prompt then generated
  int length;
  int computed; // tokens whose K/V is in the cache
  final List<Integer> blocks = new ArrayList<>(); // logical block i -> physical block
  int slot = -1; // adapter slot while admitted, -1 for none
  // The loaded adapter it was first admitted with, or null: a preempted sequence is admitted again
  // with this copy, so that it finishes on the weights it started with even when the adapter was
  // invalidated meanwhile (changed or deleted in the catalog). Heap the host cache does not count.
  LoraAdapter adapter;
  long firstComputeNanos;
  long firstTokenNanos;
  int preemptions;
  long admitOrder; // order of (re)admission, for choosing a preemption victim
  long submitOrder; // Engine.submit's count when submitted: a cancel applies to earlier ones only
  long arrival; // order of arrival in the scheduler, kept across preemptions (FIFO within a level)
  long arrivalStep; // the scheduler's step count at arrival, for aging
  TokenListener listener; // null: nobody streams this request
  FairShares.Tenant tenant; // its tenant's fair-share counter while in the scheduler
  int promptCharged; // prompt tokens already charged to its tenant (not again on recompute)

  Sequence(
      GenerationRequest request, CompletableFuture<GenerationResult> future, long submitNanos) {
    this.request = request;
    this.future = future;
    this.submitNanos = submitNanos;
    List<String> stopStrings = request.params().stopStrings();
    this.stops = stopStrings.isEmpty() ? null : new StopStrings(stopStrings);
    int[] p = request.promptTokens();
    this.tokens = Arrays.copyOf(p, p.length + Math.max(16, request.params().maxTokens()));
    this.length = p.length;
  }

  public GenerationRequest request() {
    return request;
  }

  public int promptLength() {
    return request.promptTokens().length;
  }

  public int generated() {
    return length - promptLength();
  }

  /** Tokens still to compute before the next token can be sampled. */
  public int pending() {
    return length - computed;
  }

  void append(int token) {
    if (length == tokens.length) {
      tokens = Arrays.copyOf(tokens, tokens.length * 2);
    }
    tokens[length++] = token;
  }

  int[] generatedTokens() {
    return Arrays.copyOfRange(tokens, promptLength(), length);
  }

  /** Blocks needed to hold K/V for the first {@code n} tokens. */
  static int blocksFor(int n, int blockSize) {
    return (n + blockSize - 1) / blockSize;
  }
}
