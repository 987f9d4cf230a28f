package dev.lorastream.cli.chaos;

import dev.lorastream.devstack.RegistryProcess;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code lorastream chaos}: the pipeline as separate processes on loopback (broker, registry,
 * batcher, two consumers; see {@link ChaosStack}), a steady load of requests ({@link ChaosLoad}),
 * and while it runs the faults of {@link ChaosFault#schedule}: a consumer SIGKILLed three times,
 * the batcher once, the broker once, each started again at once. Then every reply topic is read
 * with {@code read_committed} ({@link ChaosTally}) and the last line printed is {@code chaos: N
 * sent, N answered, L lost, D duplicated}; progress lines start with {@code chaos> }.
 *
 * <p>Exit status 1 when a request was lost, duplicated or answered with an error. A recovery over
 * {@code --max-recovery-s} is marked SLOW but fails the run only with {@code --strict-recovery}:
 * recovery time depends on what else the machine runs, and the run's verdict should not.
 */
@Command(
    name = "chaos",
    mixinStandardHelpOptions = true,
    description = {
      "Run broker, registry, batcher and two consumers as processes, send requests, kill and restart"
          + " services while they run, then count lost and duplicated replies.",
      "Prints 'chaos: N sent, N answered, L lost, D duplicated' last; exit 1 when any was lost or"
          + " duplicated."
    })
public final class ChaosCommand implements Callable<Integer> {
  @Option(names = "--work", defaultValue = "build/chaos", description = "folder for the run")
  Path work;

  @Option(names = "--quick", description = "a smaller run (fewer requests, shorter load)")
  boolean quick;

  @Option(names = "--requests", description = "requests to send (default 2000; --quick 300)")
  Integer requests;

  @Option(
      names = "--load-s",
      description = "seconds over which they are sent (default 300; --quick 75)")
  Integer loadSeconds;

  @Option(
      names = "--max-recovery-s",
      defaultValue = "10",
      description = "a recovery (kill to serving) longer than this is marked SLOW")
  int maxRecoverySeconds;

  @Option(names = "--strict-recovery", description = "exit 1 when a recovery was SLOW")
  boolean strictRecovery;

  @Option(
      names = "--registry-jar",
      description =
          "the Apicurio runner (default: registry/target/quarkus-app/quarkus-run.jar, or"
              + " -Dlorastream.registry.jar)")
  Path registryJarOption;

  private final PrintStream out;
  private final PrintStream err;

  public ChaosCommand() {
    this(System.out, System.err);
  }

  /** Writes the result lines to {@code out} and the progress lines to {@code err}. */
  ChaosCommand(PrintStream out, PrintStream err) {
    this.out = out;
    this.err = err;
  }

  @Override
  public Integer call() throws Exception {
    int count = requests != null ? requests : quick ? 300 : 2000;
    long loadMs = 1000L * (loadSeconds != null ? loadSeconds : quick ? 75 : 300);
    Path home = Path.of(System.getProperty("lorastream.home", ".")).toAbsolutePath().normalize();
    Path dir = home.resolve(work).normalize();
    Path registryJar = ChaosStack.registryJar(registryJarOption, home, "chaos");
    ChaosStack.clearEarlierRun(dir);
    long t0 = System.currentTimeMillis();
    progress("shared tenancy (tenants are tenantId values), logs in " + dir.resolve("logs"));
    ChaosWorkload w = ChaosWorkload.prepare(dir);
    return ChaosStack.reapingChildren(
        "chaos-reaper",
        () -> {
          try (RegistryProcess sr = RegistryProcess.start(registryJar, 0)) {
            ChaosStack stack = new ChaosStack(dir, sr.url(), w.model(), List.of(w.adapterRoot()));
            try {
              return run(stack, w, count, loadMs, t0);
            } finally {
              progress("stopping the services");
              stack.stopAll();
            }
          }
        });
  }

  private int run(ChaosStack stack, ChaosWorkload w, int count, long loadMs, long t0)
      throws Exception {
    stack.startAndAwait("broker", 120_000);
    w.createTopics(stack.bootstrap());
    w.publishAdapters(stack.bootstrap(), stack.registry());
    List<String> services = new ArrayList<>(List.of("batcher"));
    services.addAll(ChaosStack.CONSUMER_IDS);
    for (String s : services) {
      stack.service(s).start();
    }
    for (String s : services) {
      stack.await(s, 180_000);
    }
    progress(
        String.format(
            "stack up in %.1f s; sending %d requests over %d s to %s",
            (System.currentTimeMillis() - t0) / 1e3,
            count,
            loadMs / 1000,
            String.join(", ", w.replyTopics())));
    ChaosLoad load = new ChaosLoad(stack.bootstrap(), stack.registry(), w, count, loadMs);
    ReplyLog live = new ReplyLog(stack.bootstrap(), w.replyTopics());
    long loadStart = System.currentTimeMillis();
    Thread sender = load.start();
    Thread ticker = ticker(load, live, loadStart);
    List<ChaosFault> faults = new ArrayList<>();
    for (ChaosFault f : ChaosFault.schedule()) {
      long wait = loadStart + (long) (f.atFraction() * loadMs) - System.currentTimeMillis();
      if (wait > 0) {
        Thread.sleep(wait);
      }
      ChildProcess c = stack.service(f.service());
      long killed = System.currentTimeMillis();
      c.kill();
      stack.startAndAwait(f.service(), 180_000);
      ChaosFault done = f.done(killed, System.currentTimeMillis());
      faults.add(done);
      progress(
          String.format(
              "SIGKILL %s at %.0f s, serving again after %.1f s (%d of %d sent)",
              f.service(),
              (killed - loadStart) / 1e3,
              done.servingMs() / 1e3,
              load.sentAt.size(),
              count));
    }
    sender.join();
    ticker.interrupt();
    live.close();
    progress(
        String.format(
            "load done: %d sent, %d not acknowledged%s; waiting for the replies",
            load.sentAt.size(),
            load.failed.get(),
            load.lastError.get() == null ? "" : " (last error: " + load.lastError.get() + ")"));
    ChaosTally tally = drain(stack, w, load);
    report(faults, tally, load.sentAt);
    out.println(tally.summary());
    boolean slow = faults.stream().anyMatch(f -> f.servingMs() > maxRecoverySeconds * 1000L);
    boolean bad = tally.lost() > 0 || tally.duplicated() > 0 || !tally.errors().isEmpty();
    return bad || (slow && strictRecovery) ? 1 : 0;
  }

  /**
   * Reads the reply topics every few seconds until every sent request is answered or no new answer
   * came for 120 s; returns the last read.
   */
  private ChaosTally drain(ChaosStack stack, ChaosWorkload w, ChaosLoad load)
      throws InterruptedException {
    Set<String> sent = Set.copyOf(load.sentAt.keySet());
    ChaosTally last = null;
    long lastProgress = System.currentTimeMillis();
    int lastAnswered = -1;
    while (true) {
      try {
        last =
            ChaosTally.of(
                sent, ChaosTally.readAll(stack.bootstrap(), stack.registry(), w.replyTopics()));
      } catch (RuntimeException e) {
        progress("reading the replies failed (" + e.getMessage() + "); again");
      }
      if (last != null && last.answered() != lastAnswered) {
        lastAnswered = last.answered();
        lastProgress = System.currentTimeMillis();
        progress(last.answered() + " of " + sent.size() + " answered");
      }
      if (last != null && last.answered() == sent.size()) {
        Thread.sleep(2_000); // a late duplicate would commit now
        return ChaosTally.of(
            sent, ChaosTally.readAll(stack.bootstrap(), stack.registry(), w.replyTopics()));
      }
      if (System.currentTimeMillis() - lastProgress > 120_000) {
        progress("no new reply for 120 s; counting what is there");
        return last != null
            ? last
            : ChaosTally.of(
                sent, ChaosTally.readAll(stack.bootstrap(), stack.registry(), w.replyTopics()));
      }
      Thread.sleep(5_000);
    }
  }

  private void report(List<ChaosFault> faults, ChaosTally tally, Map<String, Long> sentAt) {
    for (ChaosFault f : faults) {
      OptionalLong first = f.firstReplyMs(tally.replies(), sentAt);
      out.printf(
          "recovery: %-9s kill -> serving %5.1f s%s, kill -> first reply %s%n",
          f.service(),
          f.servingMs() / 1e3,
          f.servingMs() > maxRecoverySeconds * 1000L
              ? " SLOW (> " + maxRecoverySeconds + " s)"
              : "",
          first.isPresent() ? String.format("%.1f s", first.getAsLong() / 1e3) : "none");
    }
    if (!tally.errors().isEmpty()) {
      out.println("errors: " + tally.errors());
    }
    if (!tally.lostIds().isEmpty()) {
      out.println(
          "lost: "
              + tally.lostIds().stream().sorted().limit(20).toList()
              + (tally.lost() > 20 ? " ..." : ""));
    }
  }

  /** A progress line every 5 s while the load runs: sent, batched, answered so far. */
  private Thread ticker(ChaosLoad load, ReplyLog live, long loadStart) {
    return Thread.ofPlatform()
        .daemon()
        .name("chaos-ticker")
        .start(
            () -> {
              try {
                while (true) {
                  Thread.sleep(5_000);
                  progress(
                      String.format(
                          "t=%.0f s: %d sent, %d batches, %d answered",
                          (System.currentTimeMillis() - loadStart) / 1e3,
                          load.sentAt.size(),
                          live.batches.get(),
                          live.answered.size()));
                }
              } catch (InterruptedException e) {
                // the load is done
              }
            });
  }

  private void progress(String line) {
    err.println("chaos> " + line);
  }
}
