package dev.lorastream.cli;

import dev.lorastream.engine.gguf.GgufAdapterExport;
import dev.lorastream.engine.gguf.GgufModelExport;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code lorastream export-gguf}: the model, and optionally its PEFT adapters, as GGUF files that
 * llama.cpp runs (architecture {@code llama}), for side-by-side runs of the same weights.
 */
@Command(
    name = "export-gguf",
    mixinStandardHelpOptions = true,
    description =
        "Writes a Llama-family model (HF folder) as a llama.cpp GGUF file, and PEFT LoRA adapters"
            + " as llama.cpp LoRA GGUF files (weights as stored or Q8_0, q/k in llama.cpp's"
            + " layout).")
public final class ExportGgufCommand implements Callable<Integer> {
  @Option(
      names = "--model",
      required = true,
      description = "Hugging Face model folder (config.json, *.safetensors, tokenizer.json)")
  Path model;

  @Option(names = "--out", description = "the model's GGUF file to write (e.g. model.gguf)")
  Path out;

  @Option(
      names = "--weights",
      defaultValue = "STORED",
      description =
          "the projections' format: STORED (the checkpoint's dtype, bytes unchanged) or Q8_0"
              + " (llama.cpp's 8-bit blocks of 32; embeddings and norms as stored)")
  GgufModelExport.Weights weights;

  @Option(
      names = "--adapters-dir",
      description = "a PEFT adapter folder, or a folder of them (adapter-0000, ...)")
  Path adaptersDir;

  @Option(
      names = "--adapters-out",
      description = "folder for the adapters' GGUF files (<adapter folder name>.gguf; created)")
  Path adaptersOut;

  @Override
  public Integer call() throws Exception {
    if ((adaptersDir == null) != (adaptersOut == null)) {
      throw new IllegalArgumentException(
          "--adapters-dir and --adapters-out go together: give both or neither");
    }
    if (out == null && adaptersDir == null) {
      throw new IllegalArgumentException(
          "nothing to write: give --out FILE.gguf and/or --adapters-dir DIR --adapters-out DIR");
    }
    if (out != null) {
      long t0 = System.nanoTime();
      GgufModelExport.Result r = GgufModelExport.export(model, out, weights);
      int padded = r.vocab().tokens().size() - r.vocab().fromTokenizer();
      System.out.printf(
          "wrote %s: %d tensors, %.1f MB, %d tokens (%d from tokenizer.json%s) in %.1f s%n",
          out,
          r.tensors(),
          r.bytes() / 1e6,
          r.vocab().tokens().size(),
          r.vocab().fromTokenizer(),
          padded > 0 ? ", " + padded + " [PAD] tokens" : "",
          (System.nanoTime() - t0) / 1e9);
    }
    if (adaptersDir != null) {
      long t0 = System.nanoTime();
      List<GgufAdapterExport.Result> rs =
          GgufAdapterExport.exportAll(model, adaptersDir, adaptersOut);
      for (GgufAdapterExport.Result r : rs) {
        System.out.printf(
            "wrote %s: %d tensors, %.1f MB, alpha %s%n",
            r.file(), r.tensors(), r.bytes() / 1e6, r.alpha());
      }
      System.out.printf(
          "exported %d adapter(s) to %s in %.1f s%n",
          rs.size(), adaptersOut, (System.nanoTime() - t0) / 1e9);
    }
    return 0;
  }
}
