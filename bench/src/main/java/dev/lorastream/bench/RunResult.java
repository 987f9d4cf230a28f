package dev.lorastream.bench;

/**
 * The figures of one benchmark run (one mode, one repetition, one fresh engine). Times are
 * wall-clock from the first submit to the last completion; latencies come from the engine's {@code
 * GenerationResult} timings.
 *
 * @param requests requests submitted; {@code errors} of them failed
 * @param generatedTokens tokens actually generated (counted, not assumed)
 * @param wallSeconds first submit to idle, engine construction excluded
 * @param engineInitMs constructing the engine (KV cache and slot buffers)
 * @param ttftP50Ms time to first token from arrival (all requests arrive at the run's start, also
 *     in serial mode, where a group is only submitted when the previous one is done)
 * @param tpotP50Ms time per output token after the first: (total − ttft) / (tokens − 1)
 * @param meanStepMs mean engine step (forward + sampling) over all steps
 * @param decodeSteps steps in which every scheduled token was a sampled decode token (no prefill)
 * @param meanDecodeStepMs mean of those steps
 * @param meanDecodeSeqs sequences per decode step
 * @param meanDecodeAdapters distinct adapters (pinned slots) per decode step
 * @param slotLoads adapter writes into backend slots ({@code AdapterSlots.loads()})
 * @param peakHeapMb most Java heap in use at any step boundary, uncollected garbage included (an
 *     upper bound; the CPU backend's activations, KV cache and slots are native memory and not
 *     included)
 * @param allocEngineMb heap bytes allocated by the engine thread during the run (steps, sampling,
 *     results)
 * @param allocAllMb heap bytes allocated by all threads during the run (adds the adapter loader's)
 * @param peakRssMb process resident set (mapped weights, heap and native tensors), sampled at most
 *     every 50 ms
 * @param floorMs the bandwidth floor of this run's mean decode step (see {@link Floors})
 */
public record RunResult(
    String mode,
    int rep,
    int requests,
    int errors,
    long generatedTokens,
    long promptTokens,
    double wallSeconds,
    double engineInitMs,
    double generatedTokPerS,
    double totalTokPerS,
    double requestsPerS,
    double ttftP50Ms,
    double ttftP99Ms,
    double tpotP50Ms,
    double tpotP99Ms,
    long steps,
    double meanStepMs,
    long decodeSteps,
    double meanDecodeStepMs,
    double meanDecodeSeqs,
    double meanDecodeAdapters,
    long slotLoads,
    long slotEvictions,
    long preemptions,
    double peakHeapMb,
    double allocEngineMb,
    double allocAllMb,
    double peakRssMb,
    double floorMs) {

  /** Decode step over its bandwidth floor. */
  public double stepOverFloor() {
    return meanDecodeStepMs / floorMs;
  }
}
