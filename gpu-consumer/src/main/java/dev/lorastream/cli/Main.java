package dev.lorastream.cli;

import dev.lorastream.tools.MakeAdapters;
import dev.lorastream.tools.MakeModel;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code ./lorastream} launcher: one subcommand per tool. */
@Command(
    name = "lorastream",
    mixinStandardHelpOptions = true,
    version = "lorastream 0.1.0",
    description = "Serve many LoRA fine-tunes of one base LLM.",
    subcommands = {DemoCommand.class, GenerateCommand.class, MakeModel.class, MakeAdapters.class, dev.lorastream.bench.BenchCommand.class})
public final class Main implements Runnable {
  @Override
  public void run() {
    new CommandLine(this).usage(System.out);
  }

  public static void main(String[] args) {
    int code =
        new CommandLine(new Main())
            .setExecutionExceptionHandler(
                (e, cmd, parsed) -> {
                  cmd.getErr().println("error: " + e.getMessage());
                  if (Boolean.getBoolean("lorastream.debug")) {
                    e.printStackTrace(cmd.getErr());
                  }
                  return 2;
                })
            .execute(args);
    System.exit(code);
  }
}
