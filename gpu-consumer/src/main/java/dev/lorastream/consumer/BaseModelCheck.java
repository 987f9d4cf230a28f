package dev.lorastream.consumer;

import dev.lorastream.engine.lora.LoraAdapter;

/**
 * That an adapter was made for the served model: a catalog record's {@code baseModel} must equal
 * the model name ({@code lorastream.model.name}) and its {@code rank} the loaded adapter's {@code
 * r}; a just-in-time adapter's {@code base_model_name_or_path}, when its adapter_config.json has
 * one, must end in the model name. Each refusal names both values (the request gets
 * ADAPTER_INVALID).
 */
final class BaseModelCheck {

  private BaseModelCheck() {}

  /** A registered adapter's {@code baseModel} against the served model's name. */
  static void record(String adapterId, String baseModel, String modelName) {
    if (!modelName.equals(baseModel)) {
      throw new IllegalArgumentException(
          "adapter '"
              + adapterId
              + "' is registered for base model '"
              + baseModel
              + "' but this consumer serves '"
              + modelName
              + "' ("
              + ConsumerSettings.MODEL_NAME
              + "); register it with baseModel '"
              + modelName
              + "' only if it was trained on that model");
    }
  }

  /**
   * A just-in-time adapter's {@code base_model_name_or_path} (null: not checked): only its last
   * path segment is compared, since it is usually a hub id ({@code org/name}) or a local folder.
   */
  static void jit(String adapterId, String baseModelNameOrPath, String modelName) {
    if (baseModelNameOrPath == null || baseModelNameOrPath.isBlank()) {
      return;
    }
    String trimmed = baseModelNameOrPath.replaceAll("[/\\\\]+$", "");
    String last =
        trimmed.substring(Math.max(trimmed.lastIndexOf('/'), trimmed.lastIndexOf('\\')) + 1);
    if (!last.equals(modelName)) {
      throw new IllegalArgumentException(
          "adapter '"
              + adapterId
              + "' was trained on '"
              + baseModelNameOrPath
              + "' (base_model_name_or_path in adapter_config.json) but this consumer serves '"
              + modelName
              + "' ("
              + ConsumerSettings.MODEL_NAME
              + "); only the last path segment, '"
              + last
              + "', is compared");
    }
  }

  /** The record's {@code rank} against the loaded adapter's {@code r}. */
  static void rank(String adapterId, int recordRank, LoraAdapter loaded) {
    if (recordRank != loaded.rank()) {
      throw new IllegalArgumentException(
          "adapter '"
              + adapterId
              + "' is registered with rank "
              + recordRank
              + " but its adapter_config.json has r="
              + loaded.rank()
              + "; register it with rank "
              + loaded.rank());
    }
  }
}
