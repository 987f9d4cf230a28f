package dev.lorastream.engine.sched;

/**
 * Told of each token a request generates, as it is generated ({@link
 * Engine#submit(GenerationRequest, TokenListener)}): for streaming. Called on the engine thread, in
 * order, before the request's future completes; the tokens are those of {@link
 * GenerationResult#tokens}, so a token that ends the request as a stop token id or end of sequence
 * is not passed, and a token that completes a stop string is. Must be quick and must not throw (a
 * throw stops the engine).
 */
@FunctionalInterface
public interface TokenListener {
  /**
   * @param index position of the token among the generated ones: 0, 1, 2, ...
   * @param tokenId the token
   */
  void onToken(int index, int tokenId);
}
