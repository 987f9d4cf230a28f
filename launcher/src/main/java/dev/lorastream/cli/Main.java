package dev.lorastream.cli;

import dev.lorastream.batcher.BatcherMain;
import dev.lorastream.bench.BenchCommand;
import dev.lorastream.cli.chaos.ChaosCommand;
import dev.lorastream.consumer.ConsumerMain;
import dev.lorastream.ingest.bulk.BulkCommand;
import dev.lorastream.tools.MakeAdapters;
import dev.lorastream.tools.MakeModel;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Unmatched;

/** The {@code ./lorastream} launcher: one subcommand per tool and service. */
@Command(
    name = "lorastream",
    mixinStandardHelpOptions = true,
    version = "lorastream 0.1.0",
    description = "Serve many LoRA fine-tunes of one base LLM from Kafka.",
    subcommands = {
      DemoCommand.class,
      GatewayCommand.class,
      GenerateCommand.class,
      BulkCommand.class,
      TenantCommand.class,
      AdaptersCommand.class,
      UsageCommand.class,
      Main.Batcher.class,
      Main.Consumer.class,
      MakeModel.class,
      MakeAdapters.class,
      ExportGgufCommand.class,
      BenchCommand.class,
      ChaosCommand.class
    })
public final class Main implements Runnable {
  @Override
  public void run() {
    new CommandLine(this).usage(System.out);
  }

  /**
   * The launcher's command line: {@code bench pipeline}, {@code gateway} and {@code scale} are
   * added here, since the bench module (which owns {@code bench}) does not depend on the Kafka
   * modules it needs.
   */
  static CommandLine commandLine() {
    CommandLine cl = new CommandLine(new Main());
    cl.getSubcommands().get("bench").addSubcommand("pipeline", new PipelineBench());
    cl.getSubcommands().get("bench").addSubcommand("gateway", new GatewayBench());
    cl.getSubcommands()
        .get("bench")
        .addSubcommand("scale", new dev.lorastream.cli.chaos.ScaleBench());
    return cl;
  }

  public static void main(String[] args) {
    int code =
        commandLine()
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

  /**
   * {@code lorastream batcher}: the Kafka Streams batcher service (settings from the environment).
   */
  @Command(
      name = "batcher",
      description = "Run the batcher service (KAFKA_*, SCHEMA_REGISTRY_URL, BATCHER_*).")
  static final class Batcher implements Callable<Integer> {
    @Unmatched String[] args = new String[0];

    @Override
    public Integer call() throws Exception {
      BatcherMain.main(args);
      return 0;
    }
  }

  /**
   * {@code lorastream consumer}: the inference consumer service (settings from the environment).
   */
  @Command(
      name = "consumer",
      description = "Run an inference consumer (LORASTREAM_* or -Dlorastream.*).")
  static final class Consumer implements Callable<Integer> {
    @Unmatched String[] args = new String[0];

    @Override
    public Integer call() throws Exception {
      ConsumerMain.main(args);
      return 0;
    }
  }
}
