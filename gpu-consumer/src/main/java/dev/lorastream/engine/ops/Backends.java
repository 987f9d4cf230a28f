package dev.lorastream.engine.ops;

import dev.lorastream.engine.ops.cpu.CpuOps;
import dev.lorastream.engine.ops.ref.ReferenceOps;
import java.util.Locale;

/**
 * Chooses a compute backend by name: {@code cpu} (Vector API), {@code reference} (plain loops, for
 * checking), or {@code auto} (the best one that works here; the CPU until the CUDA backend exists).
 */
public final class Backends {
  private Backends() {}

  public static Ops create(String name) {
    return switch (name.toLowerCase(Locale.ROOT)) {
      case "auto", "cpu" -> new CpuOps();
      case "reference", "ref" -> new ReferenceOps();
      default ->
          throw new IllegalArgumentException(
              "unknown backend '" + name + "': use auto, cpu or reference (lorastream.backend)");
    };
  }
}
