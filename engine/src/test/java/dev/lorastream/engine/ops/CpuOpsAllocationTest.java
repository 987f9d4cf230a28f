package dev.lorastream.engine.ops;

import static dev.lorastream.engine.ops.OpsTestData.activation;
import static dev.lorastream.engine.ops.OpsTestData.assertClose;
import static dev.lorastream.engine.ops.OpsTestData.random;
import static dev.lorastream.engine.ops.OpsTestData.read;
import static dev.lorastream.engine.ops.OpsTestData.tolerance;
import static dev.lorastream.engine.ops.OpsTestData.weight;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.lorastream.engine.ops.cpu.CpuOps;
import dev.lorastream.engine.tensor.DType;
import java.lang.management.ManagementFactory;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@link CpuOps} reuses its per-thread scratch: a matmul or LoRA shrink of a size it has seen
 * before allocates no activation-sized arrays on the Java heap. Measured with the calling thread's
 * allocated-bytes counter on a one-thread backend, so that all the work runs on the caller.
 *
 * <p>Not a timing test. Before the JIT has compiled the Vector API kernels they allocate (boxed
 * vectors), so the check repeats rounds of calls until one stays under {@link #BOUND_PER_CALL} and
 * fails only if none of {@link #MAX_ROUNDS} does. Code that allocates its packed activations per
 * call ({@code tokens × in} floats: 16 KB per token at {@code in} = 4096, 8 to 128 times the bound
 * here) can never pass, however long it runs; the reused scratch leaves about 200 bytes per call
 * (lambda and record objects).
 */
class CpuOpsAllocationTest {
  private static final int IN = 4096;
  private static final int OUT = 64;
  private static final long BOUND_PER_CALL = 2048;
  private static final int CALLS_PER_ROUND = 10;
  private static final int MAX_ROUNDS = 3000;

  private static final com.sun.management.ThreadMXBean THREADS =
      (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();

  @ParameterizedTest(name = "{0} T={1}")
  @CsvSource({"BF16, 2", "BF16, 16", "F32, 16"}) // the direct (T <= 3) and tiled matmul paths
  void matmulOfASeenSizeAllocatesNoActivationArrays(DType dtype, int tokens) {
    assumeAllocationCounter();
    SplittableRandom rnd = new SplittableRandom(tokens);
    try (CpuOps ops = new CpuOps(1)) {
      Tensor w = ops.upload(weight("w", dtype, random(rnd, OUT * IN, 0.1f), OUT, IN));
      Tensor x = activation(ops, random(rnd, tokens * IN, 1f), tokens, IN);
      Tensor y = ops.allocate(DType.F32, tokens, OUT);
      assertSteadyStateBelowBound(
          "matmul " + dtype + " T=" + tokens, () -> ops.matmul(x, w, null, y));
    }
  }

  @Test
  void sgmvShrinkOfASeenSizeAllocatesNoActivationArrays() {
    assumeAllocationCounter();
    SplittableRandom rnd = new SplittableRandom(5);
    int tokens = 16;
    int maxRank = 8;
    int[] ranks = {8, 5};
    int[] segStarts = {0, 6, 16};
    int[] segSlots = {1, 0};
    try (CpuOps ops = new CpuOps(1)) {
      Tensor a =
          ops.upload(weight("a", DType.BF16, random(rnd, 2 * maxRank * IN, 0.1f), 2 * maxRank, IN));
      Tensor x = activation(ops, random(rnd, tokens * IN, 1f), tokens, IN);
      Tensor v = ops.allocate(DType.F32, tokens, maxRank);
      assertSteadyStateBelowBound(
          "sgmvShrink T=" + tokens,
          () -> ops.sgmvShrink(x, a, ranks, new int[] {0, maxRank}, segStarts, segSlots, v));
    }
  }

  /**
   * Reused scratch is longer than a smaller call needs, and its tail holds the larger call's data:
   * it must not leak into the result. Compared with the parity tolerance (stale data would be off
   * by far more); bit-for-bit stability across JIT tiers is {@code CpuOpsTierDeterminismTest}'s.
   */
  @Test
  void smallCallAfterLargeCallMatchesAFreshBackend() {
    SplittableRandom rnd = new SplittableRandom(9);
    var w = weight("w", DType.BF16, random(rnd, 20 * 300, 0.1f), 20, 300);
    float[] small = random(rnd, 5 * 300, 1f);
    float[] large = random(rnd, 64 * 300, 1f);
    float[][] results = new float[2][];
    for (int i = 0; i < 2; i++) {
      try (CpuOps ops = new CpuOps(2)) {
        Tensor wt = ops.upload(w);
        if (i == 1) {
          ops.matmul(activation(ops, large, 64, 300), wt, null, ops.allocate(DType.F32, 64, 20));
        }
        Tensor y = ops.allocate(DType.F32, 5, 20);
        ops.matmul(activation(ops, small, 5, 300), wt, null, y);
        results[i] = read(ops, y);
      }
    }
    assertClose(
        "T=5 on a fresh backend vs after a T=64 call",
        results[0],
        results[1],
        tolerance(DType.BF16));
  }

  private static void assumeAllocationCounter() {
    assumeTrue(
        THREADS.isThreadAllocatedMemorySupported() && THREADS.isThreadAllocatedMemoryEnabled(),
        "this JVM does not count allocated bytes per thread");
  }

  private static void assertSteadyStateBelowBound(String what, Runnable call) {
    long best = Long.MAX_VALUE;
    for (int round = 0; round < MAX_ROUNDS && best > BOUND_PER_CALL; round++) {
      long before = THREADS.getCurrentThreadAllocatedBytes();
      for (int i = 0; i < CALLS_PER_ROUND; i++) {
        call.run();
      }
      best = Math.min(best, (THREADS.getCurrentThreadAllocatedBytes() - before) / CALLS_PER_ROUND);
    }
    long found = best;
    assertTrue(
        found <= BOUND_PER_CALL,
        () ->
            what
                + ": at best "
                + found
                + " heap bytes per call over "
                + MAX_ROUNDS
                + " rounds of "
                + CALLS_PER_ROUND
                + " calls, expected at most "
                + BOUND_PER_CALL
                + " (activation-sized arrays allocated per call?)");
  }
}
