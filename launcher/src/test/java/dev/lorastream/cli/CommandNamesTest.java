package dev.lorastream.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Model.OptionSpec;

/**
 * Users' scripts call these commands and flags: the shared option mixins must leave every name as
 * it was.
 */
class CommandNamesTest {
  private static final CommandLine MAIN = Main.commandLine();

  private static List<String> options(CommandLine c) {
    TreeSet<String> names = new TreeSet<>();
    for (OptionSpec o : c.getCommandSpec().options()) {
      names.addAll(List.of(o.names()));
    }
    return List.copyOf(names);
  }

  @Test
  void subcommandsKeepTheirNames() {
    assertEquals(
        new TreeSet<>(
            List.of(
                "demo",
                "gateway",
                "generate",
                "bulk",
                "tenant",
                "adapters",
                "usage",
                "batcher",
                "consumer",
                "make-model",
                "make-adapters",
                "export-gguf",
                "bench",
                "chaos")),
        new TreeSet<>(MAIN.getSubcommands().keySet()));
    assertEquals(
        List.of("engine", "adapters", "peer", "pipeline", "gateway", "scale"),
        List.copyOf(MAIN.getSubcommands().get("bench").getSubcommands().keySet()));
  }

  @Test
  void modelAndBackendFlagsKeepTheirNames() {
    assertEquals(
        List.of(
            "--adapter",
            "--backend",
            "--help",
            "--json",
            "--max-tokens",
            "--model",
            "--prompt",
            "--seed",
            "--stop",
            "--temperature",
            "--top-k",
            "--top-p",
            "--version",
            "-V",
            "-h"),
        options(MAIN.getSubcommands().get("generate")));
    List<String> bench = options(MAIN.getSubcommands().get("bench").getSubcommands().get("engine"));
    assertEquals(
        List.of("--backend", "--model"),
        bench.stream().filter(n -> n.equals("--backend") || n.equals("--model")).toList());
    assertEquals(
        "true",
        String.valueOf(
            MAIN.getSubcommands()
                .get("make-adapters")
                .getCommandSpec()
                .findOption("--model")
                .required()));
  }
}
