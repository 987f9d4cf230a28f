package dev.lorastream.cli.chaos;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * One service of the chaos stack as an OS process: started from a fixed command line (so that a
 * restart is the same service: same id, ports and folders), its output appended to one log file,
 * killed with SIGKILL ({@link #kill}) or stopped with SIGTERM ({@link #stop}). Not thread-safe: the
 * chaos command drives it from one thread.
 */
final class ChildProcess {
  private final String name;
  private final List<String> command;
  private final Map<String, String> env;
  private final Path log;
  private Process process;

  ChildProcess(String name, List<String> command, Map<String, String> env, Path log) {
    this.name = name;
    this.command = List.copyOf(command);
    this.env = Map.copyOf(env);
    this.log = log;
  }

  String name() {
    return name;
  }

  /** Starts the process (again); its output goes to the end of the log file. */
  void start() throws IOException {
    if (process != null && process.isAlive()) {
      throw new IllegalStateException(name + " is already running");
    }
    Files.createDirectories(log.getParent());
    Files.writeString(
        log,
        "---- start " + name + " " + System.currentTimeMillis() + "\n",
        StandardCharsets.UTF_8,
        java.nio.file.StandardOpenOption.CREATE,
        java.nio.file.StandardOpenOption.APPEND);
    ProcessBuilder pb =
        new ProcessBuilder(command)
            .redirectErrorStream(true)
            .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
    pb.environment().putAll(env);
    process = pb.start();
  }

  /** CPU time the running process has used so far (user and system), when the OS tells it. */
  java.util.Optional<java.time.Duration> cpuTime() {
    return process == null ? java.util.Optional.empty() : process.info().totalCpuDuration();
  }

  boolean alive() {
    return process != null && process.isAlive();
  }

  /** SIGKILL: no shutdown hook runs, nothing is closed; waits until the process is gone. */
  void kill() throws InterruptedException {
    if (process != null) {
      process.destroyForcibly();
      process.waitFor();
    }
  }

  /** SIGTERM, then SIGKILL when it has not ended within {@code seconds}. */
  void stop(int seconds) throws InterruptedException {
    if (process == null) {
      return;
    }
    process.destroy();
    if (!process.waitFor(seconds, TimeUnit.SECONDS)) {
      process.destroyForcibly();
      process.waitFor();
    }
  }

  /**
   * Waits until {@code ready} holds, polling every 50 ms, at most {@code timeoutMs}.
   *
   * @throws IllegalStateException when the process exits first or the time runs out, with the end
   *     of its log
   */
  void awaitReady(BooleanSupplier ready, long timeoutMs) throws InterruptedException {
    long end = System.currentTimeMillis() + timeoutMs;
    while (!ready.getAsBoolean()) {
      if (!alive()) {
        throw new IllegalStateException(
            name + " exited with status " + process.exitValue() + " before serving:\n" + tail());
      }
      if (System.currentTimeMillis() > end) {
        throw new IllegalStateException(
            name + " not serving after " + timeoutMs / 1000 + " s:\n" + tail());
      }
      Thread.sleep(50);
    }
  }

  /** Whether the log has a line starting with {@code prefix} after the last start. */
  boolean printed(String prefix) {
    try {
      String text = Files.readString(log, StandardCharsets.ISO_8859_1);
      String last = text.substring(Math.max(0, text.lastIndexOf("---- start ")));
      return last.contains("\n" + prefix);
    } catch (IOException e) {
      return false;
    }
  }

  /** The last 40 lines of the log. */
  String tail() {
    try {
      List<String> lines = Files.readAllLines(log, StandardCharsets.ISO_8859_1);
      return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
    } catch (IOException e) {
      return "(no log: " + e.getMessage() + ")";
    }
  }
}
