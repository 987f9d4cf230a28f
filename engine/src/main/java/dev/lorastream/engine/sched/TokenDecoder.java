package dev.lorastream.engine.sched;

/**
 * Turns generated token ids into text (the model's tokenizer); used for stop strings and results.
 */
@FunctionalInterface
public interface TokenDecoder {
  String decode(int[] ids);
}
