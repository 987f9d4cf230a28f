package dev.lorastream.devstack;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A real schema registry with the Confluent API: Apicurio Registry 2.4.2 built by the {@code
 * registry/} module, started as a separate process on a free or given port (in-memory storage). For
 * tests that need a registry shared by several processes, where {@code mock://} (in-process only)
 * cannot serve.
 */
public final class RegistryProcess implements AutoCloseable {
  /**
   * Where {@code ./mvnw -f registry/pom.xml package} puts the runner, relative to a module folder.
   */
  public static final Path DEFAULT_JAR =
      Path.of(
          System.getProperty(
              "lorastream.registry.jar", "../registry/target/quarkus-app/quarkus-run.jar"));

  private static final Pattern LISTENING = Pattern.compile("Listening on: http://[^ ]*:(\\d+)");
  private final Process process;
  private final List<String> log;
  private final String url;

  private RegistryProcess(Process process, List<String> log, String url) {
    this.process = process;
    this.log = log;
    this.url = url;
  }

  /** Whether the runner jar has been built. */
  public static boolean available(Path jar) {
    return Files.isRegularFile(jar);
  }

  /** Starts the registry on a free port and waits until it listens (up to 90 s). */
  public static RegistryProcess start(Path jar) throws IOException {
    return start(jar, 0);
  }

  /**
   * Starts the registry on {@code 127.0.0.1:port} (0 = a free port) and waits until it listens (up
   * to 90 s).
   *
   * @throws IllegalStateException when the runner jar is missing or the registry does not come up
   *     (e.g. the port is taken), with its output
   */
  public static RegistryProcess start(Path jar, int port) throws IOException {
    if (port < 0 || port > 65535) {
      throw new IllegalArgumentException("registry port " + port + " is out of range (0-65535)");
    }
    if (!available(jar)) {
      throw new IllegalStateException(
          "no Apicurio runner at "
              + jar.toAbsolutePath()
              + ": build it with ./mvnw -f registry/pom.xml package");
    }
    String java = ProcessHandle.current().info().command().orElse("java");
    Process p =
        new ProcessBuilder(
                java,
                "-Xmx384m",
                "-Dquarkus.http.port=" + port,
                "-Dquarkus.http.host=127.0.0.1",
                "-jar",
                jar.toString())
            .redirectErrorStream(true)
            .start();
    List<String> log = new CopyOnWriteArrayList<>();
    CompletableFuture<Integer> listening = new CompletableFuture<>();
    Thread.ofVirtual()
        .start(
            () -> {
              try (var lines =
                  new BufferedReader(
                      new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                for (String line; (line = lines.readLine()) != null; ) {
                  log.add(line);
                  Matcher m = LISTENING.matcher(line);
                  if (m.find()) {
                    listening.complete(Integer.parseInt(m.group(1)));
                  }
                }
              } catch (IOException e) {
                listening.completeExceptionally(e);
              }
              listening.completeExceptionally(
                  new IllegalStateException("registry exited before listening"));
            });
    try {
      int portNo = listening.get(90, TimeUnit.SECONDS);
      return new RegistryProcess(p, log, "http://127.0.0.1:" + portNo + "/apis/ccompat/v7");
    } catch (Exception e) {
      p.destroyForcibly();
      throw new IllegalStateException(
          "Apicurio did not start: " + e + "\n" + String.join("\n", log), e);
    }
  }

  /** The Confluent-compatible base URL, for {@code schema.registry.url}. */
  public String url() {
    return url;
  }

  /** What the registry printed so far. */
  public List<String> log() {
    return List.copyOf(log);
  }

  @Override
  public void close() {
    process.destroy();
    try {
      if (!process.waitFor(15, TimeUnit.SECONDS)) {
        process.destroyForcibly();
      }
    } catch (InterruptedException e) {
      process.destroyForcibly();
      Thread.currentThread().interrupt();
    }
  }
}
