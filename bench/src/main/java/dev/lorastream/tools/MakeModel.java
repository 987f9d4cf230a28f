package dev.lorastream.tools;

import dev.lorastream.engine.tensor.DType;
import dev.lorastream.engine.testdata.ModelGenerator;
import dev.lorastream.engine.testdata.ModelGenerator.Arch;
import dev.lorastream.engine.testdata.ModelGenerator.Spec;
import dev.lorastream.engine.testdata.TokenizerJson;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** The {@code make-model} command: {@link ModelGenerator} from the command line. */
@Command(
    name = "make-model",
    mixinStandardHelpOptions = true,
    description =
        "Writes a deterministic random Llama/Mistral/Qwen2 model (HF layout) for tests and benchmarks.")
public final class MakeModel implements Callable<Integer> {
  @Option(
      names = "--preset",
      defaultValue = "tiny",
      description = "tiny | tiny-hd64 | cpu-bench | llama-7b-shape")
  String presetName;

  @Option(names = "--out", required = true, description = "output folder (created)")
  Path out;

  @Option(names = "--seed", defaultValue = "0", description = "RNG seed (default 0)")
  long seed;

  @Option(
      names = "--dtype",
      description = "F32 | F16 | BF16 (default: tiny F32, cpu-bench BF16, 7b F16)")
  String dtype;

  @Option(names = "--arch", defaultValue = "llama", description = "llama | mistral | qwen2")
  Arch arch;

  @Option(
      names = "--shards",
      defaultValue = "1",
      description = "N > 1: model-0000k-of-0000N files + index")
  int shards;

  @Option(names = "--layers", description = "override the preset's layer count")
  Integer layers;

  @Option(
      names = "--tie-embeddings",
      description = "tie lm_head to embed_tokens (no lm_head tensor)")
  boolean tie;

  @Option(names = "--rope-scaling", defaultValue = "none", description = "none | llama3")
  String ropeScaling;

  @Option(
      names = "--merges",
      description = "tokenizer BPE merges (default 252: tokenizer size 512)")
  int merges = TokenizerJson.DEFAULT_MERGES;

  public MakeModel() {}

  @Override
  public Integer call() throws Exception {
    if (!ropeScaling.equals("none") && !ropeScaling.equals("llama3")) {
      throw new IllegalArgumentException(
          "unknown --rope-scaling '" + ropeScaling + "': use none or llama3");
    }
    ModelGenerator.Options o =
        new ModelGenerator.Options(
            seed,
            dtype == null ? null : DType.parse(dtype),
            arch,
            shards,
            layers,
            tie,
            ropeScaling.equals("llama3"),
            merges);
    Spec spec = ModelGenerator.spec(presetName, o);
    long bytes = ModelGenerator.make(presetName, o, out);
    System.out.printf(
        "wrote %s model (%s, %d layers, hidden %d, vocab %d, %s) to %s: %.1f MB of weights%n",
        presetName,
        spec.arch(),
        spec.layers(),
        spec.hidden(),
        spec.vocab(),
        spec.dtype(),
        out,
        bytes / 1e6);
    return 0;
  }
}
