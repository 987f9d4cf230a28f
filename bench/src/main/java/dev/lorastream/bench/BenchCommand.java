package dev.lorastream.bench;

import dev.lorastream.bench.store.AdapterStoreBench;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/**
 * {@code lorastream bench}: benchmarks that print figures (method: docs/benchmarks.md); one
 * subcommand each.
 */
@Command(
    name = "bench",
    mixinStandardHelpOptions = true,
    description =
        "Benchmarks: modes measured side by side in one process, interleaved and repeated.",
    subcommands = {EngineBench.class, AdapterStoreBench.class, PeerBench.class})
public final class BenchCommand implements Runnable {
  @Spec CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(System.out);
  }
}
