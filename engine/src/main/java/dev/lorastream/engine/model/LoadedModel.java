package dev.lorastream.engine.model;

import dev.lorastream.engine.config.ModelConfig;
import dev.lorastream.engine.io.TensorStore;

/**
 * A model's config and its weights on a backend, plus the mapped files the weights may alias.
 * Closing it unmaps the files: no tensor of it may be used afterwards.
 */
public record LoadedModel(ModelConfig config, LlamaWeights weights, TensorStore store)
    implements AutoCloseable {
  @Override
  public void close() {
    store.close();
  }
}
