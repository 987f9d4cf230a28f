package dev.lorastream.bench;

import dev.lorastream.engine.config.ModelConfig;
import java.util.List;

/**
 * Everything about a benchmark run that is not a measurement of a mode: what was run, on what, how.
 *
 * @param command the command line as typed
 * @param adaptersPresent adapter folders found under the adapters directory
 * @param adaptersUsed the first this many are the pool modes draw from
 * @param ranks distinct ranks among the adapters used
 * @param targets union of the targets of the adapters used (the engine's LoRA targets)
 * @param baseWeightBytes model weights as stored (the floor's base bytes)
 * @param notes modes skipped and ratios standing in for others, in words
 */
public record BenchSetup(
    String command,
    String started,
    MachineInfo machine,
    String backend,
    String modelDir,
    ModelConfig model,
    String adaptersDir,
    int adaptersPresent,
    int adaptersUsed,
    List<Integer> ranks,
    List<String> targets,
    String loraKernel,
    int maxLoras,
    int batch,
    int requests,
    int promptLen,
    int maxTokens,
    int reps,
    long seed,
    List<String> modes,
    Bandwidth bandwidth,
    Floors floors,
    List<String> notes) {

  public BenchSetup {
    ranks = List.copyOf(ranks);
    targets = List.copyOf(targets);
    modes = List.copyOf(modes);
    notes = List.copyOf(notes);
  }
}
