package dev.lorastream.tools;

import dev.lorastream.engine.backends.Backends;
import dev.lorastream.engine.ops.Ops;
import picocli.CommandLine.Option;

/**
 * {@code --backend NAME} of every command that runs the engine in process ({@code generate}, {@code
 * bench engine}); the default is the {@code lorastream.backend} system property, else {@code auto}.
 * A picocli mixin ({@code @Mixin}), declared once.
 */
public final class BackendOption {
  @Option(
      names = "--backend",
      defaultValue = "${sys:lorastream.backend:-auto}",
      description = "auto, cpu or reference")
  String backend;

  /** The backend named ({@link Backends#create}). */
  public Ops create() {
    return Backends.create(backend);
  }
}
