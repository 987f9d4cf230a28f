package dev.lorastream.engine.gguf;

import dev.lorastream.engine.config.ModelConfig;
import dev.lorastream.engine.config.Proj;
import dev.lorastream.engine.io.GgufWriter;
import dev.lorastream.engine.io.GgufWriter.TensorType;
import dev.lorastream.engine.io.ModelFormatException;
import dev.lorastream.engine.io.UnsupportedAdapterException;
import dev.lorastream.engine.lora.AdapterConfig;
import dev.lorastream.engine.lora.LoraAdapter;
import dev.lorastream.engine.lora.LoraWeights;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * Exports PEFT LoRA adapters ({@code adapter_config.json} + {@code adapter_model.safetensors}) as
 * llama.cpp LoRA GGUF files, as its {@code convert_lora_to_gguf.py} writes them.
 *
 * <p>Metadata: {@code general.type = adapter}, {@code general.architecture = llama}, {@code
 * adapter.type = lora}, {@code adapter.lora.alpha}. llama.cpp scales {@code B·A} by {@code alpha /
 * r} (r read off lora_b); with rsLoRA ({@code alpha / sqrt(r)}) the alpha written is {@code alpha ·
 * sqrt(r)}, which gives the same scale. Tensors, per layer and targeted projection: {@code
 * blk.N.<proj>.weight.lora_a} ({@code ne = [in, r]}, PEFT's {@code lora_A}) and {@code .lora_b}
 * ({@code ne = [r, out]}), both F32 (the factors as the engine loads them, checked finite), with
 * lora_b's rows in llama.cpp's q/k order for q and k, like the base weights.
 */
public final class GgufAdapterExport {

  /**
   * What one adapter export wrote.
   *
   * @param id the adapter's folder name
   * @param alpha the {@code adapter.lora.alpha} written
   */
  public record Result(String id, Path file, int tensors, long bytes, float alpha) {}

  private GgufAdapterExport() {}

  /**
   * Exports the adapter in {@code adaptersDir} if it holds {@code adapter_config.json}, else every
   * sub-folder of it that does (in name order), to {@code outDir/<folder name>.gguf}, for the model
   * in {@code modelDir}.
   *
   * @throws ModelFormatException when {@code adaptersDir} holds no adapter or one is malformed
   * @throws UnsupportedAdapterException when an adapter is not plain LoRA
   * @throws IOException naming the file that cannot be written
   */
  public static List<Result> exportAll(Path modelDir, Path adaptersDir, Path outDir)
      throws IOException {
    ModelConfig c = GgufModelExport.loadConfig(modelDir);
    List<Path> adapters = adapterFolders(adaptersDir);
    try {
      Files.createDirectories(outDir);
    } catch (IOException e) {
      throw new IOException(
          "cannot create output folder " + outDir + ": " + GgufWriter.describe(e), e);
    }
    List<Result> out = new ArrayList<>();
    for (Path a : adapters) {
      out.add(export(c, a, outDir.resolve(a.getFileName() + ".gguf")));
    }
    return out;
  }

  /** {@code dir} itself when it is an adapter, else its adapter sub-folders. */
  static List<Path> adapterFolders(Path dir) throws IOException {
    if (!Files.isDirectory(dir)) {
      throw new ModelFormatException(
          dir + " is not an adapter folder: it does not exist or is not a directory");
    }
    if (Files.isRegularFile(dir.resolve(AdapterConfig.FILE_NAME))) {
      return List.of(dir);
    }
    List<Path> found;
    try (Stream<Path> s = Files.list(dir)) {
      found =
          s.filter(p -> Files.isRegularFile(p.resolve(AdapterConfig.FILE_NAME))).sorted().toList();
    }
    if (found.isEmpty()) {
      throw new ModelFormatException(
          dir + " holds no PEFT adapter: expected adapter_config.json in it or in its sub-folders");
    }
    return found;
  }

  /**
   * Writes the adapter in {@code adapterDir}, for a model described by {@code c}, to {@code out}.
   *
   * @throws ModelFormatException when the adapter is malformed or does not match the model
   * @throws UnsupportedAdapterException when it is not plain LoRA or its alpha cannot be expressed
   * @throws IOException naming {@code out} when it cannot be written
   */
  public static Result export(ModelConfig c, Path adapterDir, Path out) throws IOException {
    LlamaGguf.requireLlama(c, adapterDir);
    GgufModelExport.checkWritable(out);
    AdapterConfig ac = AdapterConfig.load(adapterDir, c); // checked before the weights are read
    float alpha = (float) (ac.useRslora() ? ac.loraAlpha() * Math.sqrt(ac.r()) : ac.loraAlpha());
    if (alpha == 0f) {
      throw new UnsupportedAdapterException(
          adapterDir.resolve(AdapterConfig.FILE_NAME)
              + ": lora_alpha "
              + ac.loraAlpha()
              + " cannot be exported: llama.cpp reads alpha 0 as 'no scaling' (scale 1), not"
              + " scale 0");
    }
    LoraAdapter adapter = LoraAdapter.load(adapterDir, c, Integer.MAX_VALUE);
    GgufWriter w = new GgufWriter();
    w.putString("general.architecture", LlamaGguf.ARCH);
    w.putString("general.type", "adapter");
    w.putString("general.name", adapter.id());
    w.putString("adapter.type", "lora");
    w.putFloat32("adapter.lora.alpha", alpha);
    int tensors = 0;
    for (int l = 0; l < c.numLayers(); l++) {
      for (Proj p : Proj.values()) {
        LoraWeights lw = adapter.weights(l, p);
        if (lw == null) {
          continue;
        }
        String base = LlamaGguf.weightName(l, p);
        int heads = LlamaGguf.permuteHeads(p, c);
        w.addTensor(
            base + ".lora_a",
            TensorType.F32,
            new long[] {lw.in(), lw.rank()},
            LlamaGguf.floats(lw.a()));
        w.addTensor(
            base + ".lora_b",
            TensorType.F32,
            new long[] {lw.rank(), lw.out()},
            heads > 0
                ? LlamaGguf.permutedRows(base + ".lora_b", lw.b(), lw.out(), heads)
                : LlamaGguf.floats(lw.b()));
        tensors += 2;
      }
    }
    long bytes = w.write(out);
    return new Result(adapter.id(), out, tensors, bytes, alpha);
  }
}
