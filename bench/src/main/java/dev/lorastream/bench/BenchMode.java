package dev.lorastream.bench;

/**
 * One way of serving the benchmark's requests.
 *
 * @param kind what the engine is asked to do
 * @param n adapter count for {@link Kind#HETERO} and {@link Kind#SERIAL} (uniform popularity over
 *     the first {@code n} adapters); 0 for base, 1 for adapter1
 */
public record BenchMode(Kind kind, int n) {
  /** The modes of docs/benchmarks.md that this benchmark runs. */
  public enum Kind {
    /**
     * No LoRA at all: the engine has no LoRA targets and requests carry no adapter (the ceiling).
     */
    BASE,
    /** Every request uses the first adapter. */
    ADAPTER1,
    /** Heterogeneous batching: each request's adapter drawn uniformly from the first n. */
    HETERO,
    /**
     * Adapter-serial batching: one adapter's requests at a time, run to completion, then the next.
     */
    SERIAL
  }

  public static BenchMode base() {
    return new BenchMode(Kind.BASE, 0);
  }

  public static BenchMode adapter1() {
    return new BenchMode(Kind.ADAPTER1, 1);
  }

  public static BenchMode hetero(int n) {
    return new BenchMode(Kind.HETERO, n);
  }

  public static BenchMode serial(int n) {
    return new BenchMode(Kind.SERIAL, n);
  }

  public boolean usesLora() {
    return kind != Kind.BASE;
  }

  /** {@code base}, {@code adapter1}, {@code hetero:32}, {@code serial:100}. */
  public String label() {
    return switch (kind) {
      case BASE -> "base";
      case ADAPTER1 -> "adapter1";
      case HETERO -> "hetero:" + n;
      case SERIAL -> "serial:" + n;
    };
  }

  @Override
  public String toString() {
    return label();
  }
}
