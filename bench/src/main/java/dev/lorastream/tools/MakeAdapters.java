package dev.lorastream.tools;

import dev.lorastream.engine.tensor.DType;
import dev.lorastream.engine.testdata.AdapterGenerator;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** The {@code make-adapters} command: {@link AdapterGenerator} from the command line. */
@Command(
    name = "make-adapters",
    mixinStandardHelpOptions = true,
    description =
        "Writes N deterministic random PEFT LoRA adapters (non-zero B) for a model folder.")
public final class MakeAdapters implements Callable<Integer> {
  @Mixin ModelDirOption modelDir; // its config.json gives the dims

  @Option(names = "--count", defaultValue = "1", description = "number of adapters")
  int count;

  @Option(
      names = "--ranks",
      split = ",",
      defaultValue = "8,16,32",
      description = "ranks, cycled over adapters")
  int[] ranks;

  @Option(
      names = "--targets",
      split = ",",
      defaultValue = "q,k,v,o,gate,up,down",
      description = "subset of q,k,v,o,gate,up,down")
  List<String> targets;

  @Option(names = "--out", required = true, description = "output folder (adapter-0000 ... inside)")
  Path out;

  @Option(names = "--seed", defaultValue = "0", description = "RNG seed")
  long seed;

  @Option(names = "--alpha", description = "lora_alpha (default 2·r)")
  Double alpha;

  @Option(names = "--dtype", description = "F32 | F16 | BF16 (default: the model's torch_dtype)")
  String dtype;

  @Option(names = "--rslora", description = "use_rslora: scale alpha/sqrt(r) instead of alpha/r")
  boolean rslora;

  @Option(
      names = "--delta-ratio",
      defaultValue = "0.2",
      description = "target ‖scale·B·A‖/‖W‖ (default 0.2)")
  double deltaRatio;

  public MakeAdapters() {}

  @Override
  public Integer call() throws Exception {
    List<String> ts =
        AdapterGenerator.make(
            modelDir.model(),
            count,
            new AdapterGenerator.Options(
                ranks,
                targets,
                seed,
                alpha,
                dtype == null ? null : DType.parse(dtype),
                rslora,
                deltaRatio),
            out);
    System.out.printf(
        "wrote %d adapters (ranks %s, targets %s) to %s%n", count, Arrays.toString(ranks), ts, out);
    return 0;
  }
}
