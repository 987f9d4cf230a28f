package dev.lorastream.engine.ops;

import static dev.lorastream.engine.ops.OpsTestData.activation;
import static dev.lorastream.engine.ops.OpsTestData.assertClose;
import static dev.lorastream.engine.ops.OpsTestData.random;
import static dev.lorastream.engine.ops.OpsTestData.read;
import static dev.lorastream.engine.ops.OpsTestData.tolerance;

import dev.lorastream.engine.ops.cpu.CpuOps;
import dev.lorastream.engine.ops.ref.ReferenceOps;
import dev.lorastream.engine.tensor.DType;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * sgmvShrink, sgmvExpand and bgmv of {@link CpuOps} against {@link ReferenceOps}, Punica style:
 * segment layouts identical, distinct, uniform and skewed, slot −1 rows mixed in, four slots of
 * different ranks (16, 3, 8, 5: the full group path, the under-4-rows path and the overlapping last
 * group) in one call, F32 and BF16 shrink weights. bgmv with the same per-row slots must equal
 * shrink + expand.
 */
class CpuLoraParityTest {
  private static final CpuOps CPU = new CpuOps(2);
  private static final ReferenceOps REF = new ReferenceOps();
  private static final int SLOTS = 4;
  private static final int MAX_RANK = 16;
  private static final int[] RANKS = {16, 3, 8, 5};

  /**
   * Each slot's first row: out of slot order and with gaps, as a pool that has churned lays out.
   */
  private static final int[] ROW_STARTS = {48, 0, 24, 40};

  @AfterAll
  static void close() {
    CPU.close();
  }

  /** A named batch layout: segment starts (one more than slots) and each segment's slot. */
  record Layout(String name, int[] starts, int[] slots) {
    int tokens() {
      return starts[starts.length - 1];
    }

    int[] rowSlots() {
      int[] rows = new int[tokens()];
      java.util.Arrays.fill(rows, -1);
      for (int j = 0; j < slots.length; j++) {
        for (int t = starts[j]; t < starts[j + 1]; t++) {
          rows[t] = slots[j];
        }
      }
      return rows;
    }

    @Override
    public String toString() {
      return name;
    }
  }

  static Stream<Arguments> cases() {
    Layout identical = new Layout("identical T=150", new int[] {0, 150}, new int[] {0});
    Layout single = new Layout("identical T=1", new int[] {0, 1}, new int[] {2});
    int[] dStarts = new int[38];
    int[] dSlots = new int[37];
    for (int t = 0; t < 37; t++) {
      dStarts[t + 1] = t + 1;
      dSlots[t] = t % 5 - 1; // -1, 0, 1, 2, 3, -1, ...
    }
    Layout distinct = new Layout("distinct T=37", dStarts, dSlots);
    Layout uniform =
        new Layout("uniform T=37", new int[] {0, 8, 16, 24, 32, 37}, new int[] {0, 1, 2, 3, -1});
    Layout skewed =
        new Layout(
            "skewed T=77",
            new int[] {0, 70, 71, 72, 73, 74, 75, 75, 77},
            new int[] {2, 0, -1, 1, 3, 0, 1, 3});
    Stream.Builder<Arguments> b = Stream.builder();
    for (Layout l : new Layout[] {identical, single, distinct, uniform, skewed}) {
      for (DType dtype : new DType[] {DType.F32, DType.BF16}) {
        b.add(Arguments.of(l, dtype, 200, 150));
      }
    }
    b.add(Arguments.of(uniform, DType.BF16, 1100, 37)); // several k-blocks, odd out
    b.add(Arguments.of(skewed, DType.F32, 33, 4096));
    return b.build();
  }

  @ParameterizedTest(name = "{0} a={1} in={2} out={3}")
  @MethodSource("cases")
  void shrinkExpandAndBgmvMatchReference(Layout layout, DType aType, int in, int out) {
    SplittableRandom rnd = new SplittableRandom(layout.tokens() * 7L + in);
    int tokens = layout.tokens();
    float[] x = random(rnd, tokens * in, 1f);
    float[] y0 = random(rnd, tokens * out, 1f);
    float[][] aSlot = new float[SLOTS][];
    float[][] bSlot = new float[SLOTS][];
    for (int s = 0; s < SLOTS; s++) {
      aSlot[s] = random(rnd, RANKS[s] * in, 0.1f);
      bSlot[s] = random(rnd, RANKS[s] * out, 0.1f);
    }
    float[][] shrunk = new float[2][];
    float[][] expanded = new float[2][];
    float[][] gathered = new float[2][];
    Ops[] backends = {REF, CPU};
    for (int i = 0; i < 2; i++) {
      Ops ops = backends[i];
      Tensor a = ops.allocate(aType, SLOTS * MAX_RANK, in);
      Tensor bT = ops.allocate(DType.F32, SLOTS * MAX_RANK, out);
      for (int s = 0; s < SLOTS; s++) {
        ops.writeRows(a, ROW_STARTS[s], aSlot[s], RANKS[s], 1f);
        ops.writeRows(bT, ROW_STARTS[s], bSlot[s], RANKS[s], 2f); // B already scaled
      }
      Tensor xt = activation(ops, x, tokens, in);
      Tensor v =
          activation(ops, random(new SplittableRandom(2), tokens * MAX_RANK, 9f), tokens, MAX_RANK);
      ops.sgmvShrink(xt, a, RANKS, ROW_STARTS, layout.starts(), layout.slots(), v);
      Tensor y = activation(ops, y0, tokens, out);
      ops.sgmvExpand(v, bT, RANKS, ROW_STARTS, layout.starts(), layout.slots(), y);
      Tensor yb = activation(ops, y0, tokens, out);
      ops.bgmv(xt, a, bT, RANKS, ROW_STARTS, ROW_STARTS, layout.rowSlots(), yb);
      shrunk[i] = read(ops, v);
      expanded[i] = read(ops, y);
      gathered[i] = read(ops, yb);
    }
    double tol = tolerance(aType);
    assertClose("sgmvShrink " + layout, shrunk[0], shrunk[1], tol);
    assertClose("sgmvExpand " + layout, expanded[0], expanded[1], tol);
    assertClose("bgmv " + layout, gathered[0], gathered[1], tol);
    assertClose("bgmv vs sgmv on cpu " + layout, expanded[1], gathered[1], tol);
  }
}
