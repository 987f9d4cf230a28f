package dev.lorastream.engine.ops.cpu;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

/**
 * The AMX kernel's check of itself on the CPU it is about to serve on: one small matmul (a tail of
 * {@code in}, a partial row block, two token chunks with a partial tile) through {@code
 * ls_matmul_amx} and through {@code ls_matmul_bf16dot} on the same packed activations. Both
 * multiply the same BF16 pairs exactly in F32 and differ only in the order of the additions, so
 * they agree to ~1e-6 of the outputs' size; a wrong tile layout or config is off by far more.
 */
final class AmxSelfCheck {
  private AmxSelfCheck() {}

  /** Null when the kernels agree; else the first disagreement, in words. */
  static String run(NativeCpu l) throws Throwable {
    int in = 100, tokens = 83, out = 40;
    SplittableRandom rnd = new SplittableRandom(20261206);
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment w = arena.allocate(2L * out * in, 64);
      for (long i = 0; i < (long) out * in; i++) {
        w.setAtIndex(ValueLayout.JAVA_SHORT, i, CpuTensor.toBf16((float) rnd.nextDouble(-1, 1)));
      }
      MemorySegment x = arena.allocate(4L * tokens * in, 64);
      for (long i = 0; i < (long) tokens * in; i++) {
        x.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) rnd.nextDouble(-1, 1));
      }
      int in2 = l.bf16Stride(in);
      MemorySegment xb = arena.allocate(2L * tokens * in2, 64);
      l.packBf16.invokeExact(x, in, tokens, in, xb);
      MemorySegment amx = arena.allocate(4L * tokens * out, 64);
      MemorySegment dot = arena.allocate(4L * tokens * out, 64);
      MemorySegment scratch = arena.allocate(Math.max(64, l.amxScratchBytes(in, tokens)), 64);
      l.matmulAmx.invokeExact(xb, w, in, amx, out, MemorySegment.NULL, tokens, 0, out, scratch);
      l.matmulBf16dot.invokeExact(xb, w, in, dot, out, MemorySegment.NULL, tokens, 0, out);
      double sq = 0;
      for (long i = 0; i < (long) tokens * out; i++) {
        double d = dot.getAtIndex(ValueLayout.JAVA_FLOAT, i);
        sq += d * d;
      }
      double rms = Math.sqrt(sq / ((long) tokens * out));
      for (long i = 0; i < (long) tokens * out; i++) {
        float a = amx.getAtIndex(ValueLayout.JAVA_FLOAT, i);
        float d = dot.getAtIndex(ValueLayout.JAVA_FLOAT, i);
        if (!(Math.abs(a - d) <= 1e-4 * (Math.abs(d) + rms))) {
          return "y[" + i / out + ", " + i % out + "] = " + a + " on AMX, " + d + " on bf16dot";
        }
      }
      return null;
    }
  }
}
