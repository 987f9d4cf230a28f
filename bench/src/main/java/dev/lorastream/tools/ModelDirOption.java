package dev.lorastream.tools;

import java.nio.file.Path;
import picocli.CommandLine.Option;

/**
 * {@code --model DIR}, the base model (a Hugging Face folder) of every command that loads or reads
 * one: {@code generate}, {@code make-adapters}, {@code bench engine}. A picocli mixin
 * ({@code @Mixin}), declared once.
 */
public final class ModelDirOption {
  @Option(names = "--model", required = true, description = "Hugging Face model directory")
  Path model;

  /** The folder given. */
  public Path model() {
    return model;
  }
}
