package dev.lorastream.cli.chaos;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.lorastream.bench.MachineInfo;
import dev.lorastream.devstack.RegistryProcess;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.common.GroupState;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code lorastream bench scale}: the same workload served by 1, 2 and 4 inference consumer
 * processes of one group, on one KRaft broker, one batcher and the Apicurio registry, each its own
 * process (the {@link ChaosStack}: the tiny generated model and 12 adapters of four tenants, CPU
 * backend). All consumers start and warm up together (the JIT compiles the model code during the
 * first thousands of requests); the phases then run from the most consumers to the fewest,
 * consumers stopped (SIGTERM) in between; before each phase the group must be stable with every
 * consumer assigned and a settling load answered. A phase sends {@code --requests} requests at once
 * (a backlog) and ends at its last reply: throughput is the tokens generated over that time. Each
 * consumer computes on one core ({@link ChaosStack}'s bounded mode: one engine thread, one
 * processor seen, pinned with {@code taskset}). This machine may have fewer cores than consumers,
 * and the broker, batcher and load share them, so the throughput of N consumers on N cores of their
 * own is also projected: the phase's tokens over the busiest consumer's CPU time in it. Locality:
 * per consumer, the requests, tokens and distinct adapters it served, and per adapter how many
 * consumers served it.
 *
 * <p>After the phase with the most consumers, a rebalance under load: requests are sent at a steady
 * pace while one consumer is stopped (SIGTERM, it drains) and later started again; every reply
 * topic is then read ({@link ChaosTally}): every request of the whole run (warm-ups, phases and
 * this one) must be answered exactly once. Exit status 1 when one was lost, duplicated or failed.
 */
@Command(
    name = "scale",
    mixinStandardHelpOptions = true,
    description = {
      "Throughput of 1, 2 and 4 consumer processes in one group on the same workload, per-consumer"
          + " adapter locality, then a rebalance under load that must lose and duplicate nothing.",
      "Prints 'ratio scale_N_over_1 X' per N; exit 1 when a request was lost or duplicated."
    })
public final class ScaleBench implements Callable<Integer> {
  private static final String GROUP = "lora-consumers"; // ConsumerSettings' default group

  /** Requests per consumer after the group changed, before a phase is timed. */
  static final int SETTLE = 50;

  @Option(
      names = "--consumers",
      split = ",",
      defaultValue = "1,2,4",
      description = "consumer counts, ascending (default ${DEFAULT-VALUE})")
  List<Integer> counts;

  @Option(names = "--requests", description = "requests per phase (default 2000; --quick 500)")
  Integer requests;

  @Option(
      names = "--max-tokens",
      defaultValue = "256",
      description =
          "longest generation; each request's max_tokens is 1/4, 2/4, 3/4 or all of it (default"
              + " ${DEFAULT-VALUE}: the tiny model generates so fast that with short answers the"
              + " broker and batcher, not the consumers, set the pace)")
  int maxTokens;

  @Option(
      names = "--warm-up",
      defaultValue = "300",
      description =
          "warm-up requests per consumer, all consumers at once, before the first phase (default"
              + " ${DEFAULT-VALUE})")
  int warmUp;

  @Option(names = "--quick", description = "fewer requests per phase")
  boolean quick;

  @Option(
      names = "--unbounded",
      description = "let each consumer use every core (default: one core each, pinned)")
  boolean unbounded;

  @Option(names = "--out", description = "report folder (default bench/reports/<date>-scale)")
  Path out;

  @Option(names = "--work", defaultValue = "build/bench-scale", description = "work folder")
  Path work;

  @Option(names = "--registry-jar", description = "the Apicurio runner (as for chaos)")
  Path registryJarOption;

  @Option(names = "--note", defaultValue = "", description = "a sentence for the report")
  String note;

  @picocli.CommandLine.Spec picocli.CommandLine.Model.CommandSpec spec;

  private final PrintStream stdout;
  private final PrintStream err;
  private final ObjectMapper json = new ObjectMapper();

  public ScaleBench() {
    this(System.out, System.err);
  }

  ScaleBench(PrintStream stdout, PrintStream err) {
    this.stdout = stdout;
    this.err = err;
  }

  /** One measured phase. */
  record Phase(
      int consumers,
      int requests,
      long tokens,
      double wallS,
      Map<String, ConsumerShare> shares,
      Map<String, Integer> consumersPerAdapter,
      double othersCpuS) {
    double tokensPerS() {
      return tokens / wallS;
    }

    /** Mean wall seconds of one engine step over the phase's consumers. */
    double secondsPerStep() {
      double steps = shares.values().stream().mapToDouble(ConsumerShare::steps).sum();
      double s = shares.values().stream().mapToDouble(ConsumerShare::stepS).sum();
      return steps > 0 ? s / steps : 0;
    }

    /**
     * Each consumer on a core of its own, its steps as fast as those of {@code reference} (the
     * phase with the fewest consumers): the phase lasts as long as the consumer with the most steps
     * takes, so the tokens over that. Keeps the imbalance between consumers and their batch
     * occupancy; leaves out that here they share cores with each other and with the broker, the
     * batcher and the load.
     */
    double projectedTokensPerS(Phase reference) {
      double most = shares.values().stream().mapToDouble(ConsumerShare::steps).max().orElse(0);
      double t = most * reference.secondsPerStep();
      return t > 0 ? tokens / t : 0;
    }

    double meanConsumersPerAdapter() {
      return consumersPerAdapter.values().stream().mapToInt(Integer::intValue).average().orElse(0);
    }
  }

  /**
   * What one consumer did in a phase: requests, tokens and distinct adapters it answered, its
   * process' CPU seconds, and its engine's steps and seconds in steps ({@code
   * lorastream_engine_steps_total}, {@code lorastream_engine_step_seconds_total}).
   */
  record ConsumerShare(
      int requests, long tokens, int adapters, double cpuS, double steps, double stepS) {
    double tokensPerCpuS() {
      return cpuS > 0 ? tokens / cpuS : 0;
    }

    double tokensPerStep() {
      return steps > 0 ? tokens / steps : 0;
    }
  }

  private static final List<String> ENGINE =
      List.of("lorastream_engine_steps_total", "lorastream_engine_step_seconds_total");

  @Override
  public Integer call() throws Exception {
    if (counts.isEmpty()
        || counts.getFirst() < 1
        || !counts.equals(counts.stream().sorted().distinct().toList())) {
      throw new IllegalArgumentException(
          "--consumers: ascending distinct counts >= 1, e.g. 1,2,4 (got " + counts + ")");
    }
    int perPhase = requests != null ? requests : quick ? 500 : 2000;
    if (perPhase < 10) {
      throw new IllegalArgumentException("--requests >= 10");
    }
    int most = counts.getLast();
    Path home = Path.of(System.getProperty("lorastream.home", ".")).toAbsolutePath().normalize();
    Path dir = home.resolve(work).normalize();
    Path report = out != null ? out : home.resolve("bench/reports/" + LocalDate.now() + "-scale");
    Path registryJar = ChaosStack.registryJar(registryJarOption, home, "bench scale");
    ChaosStack.clearEarlierRun(dir);
    String started = Instant.now().toString();
    ChaosWorkload w = ChaosWorkload.prepare(dir);
    List<String> ids = new ArrayList<>();
    for (int i = 1; i <= most; i++) {
      ids.add("scale-c" + i);
    }
    Run run =
        ChaosStack.reapingChildren(
            "scale-reaper",
            () -> {
              try (RegistryProcess sr = RegistryProcess.start(registryJar, 0)) {
                ChaosStack stack =
                    new ChaosStack(
                        dir, sr.url(), w.model(), List.of(w.adapterRoot()), ids, !unbounded);
                try {
                  return run(stack, w, ids, perPhase);
                } finally {
                  progress("stopping the services");
                  stack.stopAll();
                }
              }
            });
    ObjectNode o = report(started, run.phases(), run.tally(), run.rebalance(), perPhase);
    Files.createDirectories(report);
    json.writerWithDefaultPrettyPrinter().writeValue(report.resolve("results.json").toFile(), o);
    Files.writeString(report.resolve("report.md"), markdown(o));
    Phase one = run.phases().getFirst();
    for (Phase p : run.phases().subList(1, run.phases().size())) {
      stdout.printf(
          Locale.ROOT,
          "ratio scale_%d_over_%d %.3f (projected, each consumer on a core of its own: %.3f)%n",
          p.consumers(),
          one.consumers(),
          p.tokensPerS() / one.tokensPerS(),
          p.projectedTokensPerS(one) / one.projectedTokensPerS(one));
    }
    ChaosTally tally = run.tally();
    stdout.println(tally.summary().replace("chaos:", "scale:"));
    err.println("bench scale: report in " + report);
    boolean bad = tally.lost() > 0 || tally.duplicated() > 0 || !tally.errors().isEmpty();
    return bad ? 1 : 0;
  }

  /** What the phases measured, the whole run's tally and what the rebalance did. */
  record Run(List<Phase> phases, ChaosTally tally, String rebalance) {}

  /**
   * Starts the services on {@code stack}, runs the phases and the rebalance, tallies the replies.
   */
  private Run run(ChaosStack stack, ChaosWorkload w, List<String> ids, int perPhase)
      throws Exception {
    int most = ids.size();
    List<Phase> phases = new ArrayList<>();
    String rebalance;
    stack.startAndAwait("broker", 120_000);
    w.createTopics(stack.bootstrap(), Math.max(4, most));
    w.publishAdapters(stack.bootstrap(), stack.registry());
    stack.startAndAwait("batcher", 180_000);
    Set<String> sent = new LinkedHashSet<>();
    try (ReplyLog live = new ReplyLog(stack.bootstrap(), w.replyTopics())) {
      // every consumer starts and warms up together (the JIT compiles its model code during
      // its first thousands of requests); then the phases run from the most consumers to the
      // fewest, stopping consumers in between, so that each phase's consumers are warm
      for (String id : ids) {
        stack.service(id).start();
      }
      for (String id : ids) {
        stack.await(id, 180_000);
      }
      awaitGroup(stack, most);
      progress("%d consumers in the group; warming up", most);
      sent.addAll(backlog(stack, w, live, "warm-", warmUp * most, 1));
      rebalance = "";
      List<Integer> descending = counts.reversed();
      int running = most;
      for (int n : descending) {
        for (; running > n; running--) {
          stack.service(ids.get(running - 1)).stop(30);
        }
        awaitGroup(stack, n);
        // the routing settles on the new assignment: homes move, holders are rebalanced
        sent.addAll(backlog(stack, w, live, "settle" + n + "-", SETTLE * n, 100 + n));
        progress("measuring %d consumer(s): %d requests at once", n, perPhase);
        Map<String, Duration> cpu0 = cpu(stack, ids.subList(0, n));
        Map<String, Map<String, Double>> engine0 = engine(stack, ids.subList(0, n));
        double others0 = othersCpuS(stack);
        long t0 = System.currentTimeMillis();
        List<String> phaseIds = backlog(stack, w, live, "p" + n + "-", perPhase, 200 + n);
        Map<String, Duration> cpu1 = cpu(stack, ids.subList(0, n));
        Map<String, Map<String, Double>> engine1 = engine(stack, ids.subList(0, n));
        double others = othersCpuS(stack) - others0;
        sent.addAll(phaseIds);
        Phase p =
            phase(
                n,
                phaseIds,
                ChaosTally.readAll(stack.bootstrap(), stack.registry(), w.replyTopics()),
                t0,
                cpu0,
                cpu1,
                engine0,
                engine1,
                others);
        phases.addFirst(p);
        progress(
            "%d consumer(s): %d tokens in %.1f s = %.0f tokens/s, %.2f ms per step;"
                + " consumers per adapter %.2f",
            n,
            p.tokens(),
            p.wallS(),
            p.tokensPerS(),
            p.secondsPerStep() * 1e3,
            p.meanConsumersPerAdapter());
        if (n == most && most >= 2) {
          rebalance = rebalance(stack, w, live, ids.get(most - 1), perPhase, sent);
        }
      }
      return new Run(
          phases,
          ChaosTally.of(
              sent, ChaosTally.readAll(stack.bootstrap(), stack.registry(), w.replyTopics())),
          rebalance);
    }
  }

  /**
   * Sends {@code count} requests at once and waits until each is answered (10 minutes at most);
   * returns their ids.
   */
  private List<String> backlog(
      ChaosStack stack, ChaosWorkload w, ReplyLog live, String prefix, int count, long seed)
      throws InterruptedException {
    ChaosLoad load =
        new ChaosLoad(
            stack.bootstrap(), stack.registry(), w, count, 0, prefix, seed, maxTokensMix());
    load.run();
    if (load.sentAt.size() != count) {
      throw new IllegalStateException(
          (count - load.sentAt.size())
              + " requests were not acknowledged: "
              + load.lastError.get());
    }
    List<String> ids = new ArrayList<>(load.sentAt.keySet());
    long end = System.currentTimeMillis() + 600_000;
    while (!live.answered.containsAll(ids)) {
      if (System.currentTimeMillis() > end) {
        throw new IllegalStateException(
            "not every request of " + prefix + " was answered within 10 minutes");
      }
      Thread.sleep(20);
    }
    return ids;
  }

  /**
   * {@code count} requests sent at a steady pace over 10 s; {@code leaver} is stopped (SIGTERM: it
   * drains) at a third of it and started again at two thirds; then waits for every answer.
   */
  private String rebalance(
      ChaosStack stack, ChaosWorkload w, ReplyLog live, String leaver, int count, Set<String> sent)
      throws Exception {
    long loadMs = 10_000;
    progress("rebalance: %d requests over %d s; %s leaves and comes back", count, 10, leaver);
    ChaosLoad load =
        new ChaosLoad(
            stack.bootstrap(), stack.registry(), w, count, loadMs, "rebal-", 7, maxTokensMix());
    long t0 = System.currentTimeMillis();
    Thread sender = load.start();
    Thread.sleep(Math.max(0, t0 + loadMs / 3 - System.currentTimeMillis()));
    long stopAt = System.currentTimeMillis();
    stack.service(leaver).stop(30);
    long stopped = System.currentTimeMillis();
    Thread.sleep(Math.max(0, t0 + 2 * loadMs / 3 - System.currentTimeMillis()));
    long startAt = System.currentTimeMillis();
    stack.startAndAwait(leaver, 180_000);
    long back = System.currentTimeMillis();
    sender.join();
    List<String> ids = new ArrayList<>(load.sentAt.keySet());
    sent.addAll(ids);
    long end = System.currentTimeMillis() + 300_000;
    while (!live.answered.containsAll(ids) && System.currentTimeMillis() < end) {
      Thread.sleep(100);
    }
    Thread.sleep(2_000); // a late duplicate would be committed by now
    String line =
        String.format(
            Locale.ROOT,
            "%s stopped (SIGTERM) at %.1f s of the load, gone after %.1f s; started at %.1f s,"
                + " serving after %.1f s; %d of %d requests sent",
            leaver,
            (stopAt - t0) / 1e3,
            (stopped - stopAt) / 1e3,
            (startAt - t0) / 1e3,
            (back - startAt) / 1e3,
            ids.size(),
            count);
    progress("rebalance: %s", line);
    return line;
  }

  private int[] maxTokensMix() {
    return new int[] {
      Math.max(1, maxTokens / 4),
      Math.max(1, maxTokens / 2),
      Math.max(1, 3 * maxTokens / 4),
      maxTokens
    };
  }

  /** Waits (2 minutes at most) until the group is stable with {@code n} members, each assigned. */
  private static void awaitGroup(ChaosStack stack, int n) throws Exception {
    long end = System.currentTimeMillis() + 120_000;
    try (Admin admin = Admin.create(Map.of("bootstrap.servers", stack.bootstrap()))) {
      while (true) {
        ConsumerGroupDescription g =
            admin
                .describeConsumerGroups(List.of(GROUP))
                .describedGroups()
                .get(GROUP)
                .get(10, TimeUnit.SECONDS);
        if (g.groupState() == GroupState.STABLE
            && g.members().size() == n
            && g.members().stream()
                .map(MemberDescription::assignment)
                .noneMatch(a -> a.topicPartitions().isEmpty())) {
          return;
        }
        if (System.currentTimeMillis() > end) {
          throw new IllegalStateException(
              "consumer group " + GROUP + " not stable with " + n + " assigned members: " + g);
        }
        Thread.sleep(250);
      }
    }
  }

  /** CPU seconds used so far by the broker, the batcher and this process (the load, the reads). */
  private static double othersCpuS(ChaosStack stack) {
    Duration d =
        stack
            .broker
            .cpuTime()
            .orElse(Duration.ZERO)
            .plus(stack.batcher.cpuTime().orElse(Duration.ZERO))
            .plus(ProcessHandle.current().info().totalCpuDuration().orElse(Duration.ZERO));
    return d.toNanos() / 1e9;
  }

  private static Map<String, Map<String, Double>> engine(ChaosStack stack, List<String> ids) {
    Map<String, Map<String, Double>> m = new LinkedHashMap<>();
    for (String id : ids) {
      m.put(id, stack.scrape(id, ENGINE));
    }
    return m;
  }

  private static double delta(
      Map<String, Map<String, Double>> a, Map<String, Map<String, Double>> b, String id, String k) {
    return b.get(id).getOrDefault(k, 0.0) - a.get(id).getOrDefault(k, 0.0);
  }

  private static Map<String, Duration> cpu(ChaosStack stack, List<String> ids) {
    Map<String, Duration> m = new LinkedHashMap<>();
    for (String id : ids) {
      m.put(id, stack.service(id).cpuTime().orElse(Duration.ZERO));
    }
    return m;
  }

  /** The phase's figures from the replies to {@code ids}. */
  static Phase phase(
      int n,
      List<String> ids,
      List<ChaosTally.Reply> replies,
      long t0,
      Map<String, Duration> cpu0,
      Map<String, Duration> cpu1,
      Map<String, Map<String, Double>> engine0,
      Map<String, Map<String, Double>> engine1,
      double othersCpuS) {
    Set<String> mine = Set.copyOf(ids);
    long last = t0;
    long tokens = 0;
    Map<String, int[]> requests = new TreeMap<>();
    Map<String, long[]> tokensBy = new TreeMap<>();
    Map<String, Set<String>> adaptersBy = new TreeMap<>();
    Map<String, Set<String>> consumersOf = new TreeMap<>();
    Set<String> seen = new TreeSet<>();
    for (ChaosTally.Reply r : replies) {
      if (!mine.contains(r.id()) || !seen.add(r.id())) {
        continue;
      }
      last = Math.max(last, r.timestampMs());
      tokens += r.completionTokens();
      String by = String.valueOf(r.servedBy());
      String adapter = r.adapterId() == null ? "base" : r.adapterId();
      requests.computeIfAbsent(by, k -> new int[1])[0]++;
      tokensBy.computeIfAbsent(by, k -> new long[1])[0] += r.completionTokens();
      adaptersBy.computeIfAbsent(by, k -> new TreeSet<>()).add(adapter);
      consumersOf.computeIfAbsent(adapter, k -> new TreeSet<>()).add(by);
    }
    Map<String, ConsumerShare> shares = new LinkedHashMap<>();
    for (String id : cpu0.keySet()) { // servedBy is the consumer's id
      shares.put(
          id,
          new ConsumerShare(
              requests.getOrDefault(id, new int[1])[0],
              tokensBy.getOrDefault(id, new long[1])[0],
              adaptersBy.getOrDefault(id, Set.of()).size(),
              (cpu1.get(id).toNanos() - cpu0.get(id).toNanos()) / 1e9,
              delta(engine0, engine1, id, ENGINE.get(0)),
              delta(engine0, engine1, id, ENGINE.get(1))));
    }
    Map<String, Integer> perAdapter = new TreeMap<>();
    consumersOf.forEach((a, c) -> perAdapter.put(a, c.size()));
    return new Phase(n, ids.size(), tokens, (last - t0) / 1e3, shares, perAdapter, othersCpuS);
  }

  private ObjectNode report(
      String started, List<Phase> phases, ChaosTally tally, String rebalance, int perPhase) {
    ObjectNode o = json.createObjectNode();
    o.put(
        "command",
        // the whole command line: the parse result's original arguments begin with "bench scale"
        spec == null
            ? "./lorastream bench scale"
            : "./lorastream "
                + String.join(" ", spec.commandLine().getParseResult().originalArgs()));
    o.put("started", started);
    MachineInfo m = MachineInfo.detect();
    o.put("machine", m.cpuModel() + ", " + m.cores() + " cores, " + m.jdk() + ", " + m.os());
    o.put("requests_per_phase", perPhase);
    o.put("max_tokens_mix", java.util.Arrays.toString(maxTokensMix()));
    o.put(
        "bounding",
        unbounded
            ? "none: each consumer may use every core"
            : "each consumer: lorastream.cpu.threads=1, -XX:ActiveProcessorCount=1"
                + (ChaosStack.TASKSET.isPresent()
                    ? ", pinned with taskset -c (i mod " + m.cores() + ")"
                    : " (no taskset here: not pinned)"));
    ArrayNode ps = o.putArray("phases");
    Phase one = phases.getFirst();
    for (Phase p : phases) {
      ObjectNode j = ps.addObject();
      j.put("consumers", p.consumers());
      j.put("requests", p.requests());
      j.put("tokens", p.tokens());
      j.put("wall_s", p.wallS());
      j.put("tokens_per_s", p.tokensPerS());
      j.put("ratio_over_first", p.tokensPerS() / one.tokensPerS());
      j.put("ms_per_step", p.secondsPerStep() * 1e3);
      j.put("projected_tokens_per_s", p.projectedTokensPerS(one));
      j.put(
          "projected_ratio_over_first", p.projectedTokensPerS(one) / one.projectedTokensPerS(one));
      j.put("mean_consumers_per_adapter", p.meanConsumersPerAdapter());
      j.put("broker_batcher_bench_cpu_s", p.othersCpuS());
      ObjectNode cs = j.putObject("per_consumer");
      p.shares()
          .forEach(
              (id, s) -> {
                ObjectNode c = cs.putObject(id);
                c.put("requests", s.requests());
                c.put("tokens", s.tokens());
                c.put("adapters", s.adapters());
                c.put("cpu_s", s.cpuS());
                c.put("tokens_per_cpu_s", s.tokensPerCpuS());
                c.put("engine_steps", s.steps());
                c.put("engine_step_s", s.stepS());
                c.put("tokens_per_step", s.tokensPerStep());
              });
    }
    ObjectNode r = o.putObject("rebalance");
    r.put("what", rebalance);
    r.put("sent", tally.sent());
    r.put("answered", tally.answered());
    r.put("lost", tally.lost());
    r.put("duplicated", tally.duplicated());
    r.put("errors", tally.errors().toString());
    o.put("note", note);
    return o;
  }

  private static String markdown(ObjectNode o) {
    StringBuilder b = new StringBuilder("# bench scale\n\n");
    b.append('`').append(o.get("command").asText()).append("`, started ");
    b.append(o.get("started").asText()).append(", on ").append(o.get("machine").asText());
    b.append(".\n\nBroker, registry, batcher and each consumer are separate processes; ");
    b.append(o.get("requests_per_phase").asInt());
    b.append(
        " requests sent at once per phase (tiny generated model, 12 adapters of 4 tenants,"
            + " max_tokens ");
    b.append(o.get("max_tokens_mix").asText());
    b.append("), timed from the first send to the last reply. Bounding: ");
    b.append(o.get("bounding").asText()).append(".\n\n");
    b.append(
        "| consumers | tokens | wall s | tokens/s | × first | ms per step | projected tokens/s"
            + " (own cores) | × first | consumers per adapter | broker + batcher + load CPU s |\n");
    b.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (var p : o.get("phases")) {
      b.append(
          String.format(
              Locale.ROOT,
              "| %d | %d | %.1f | %.0f | %.3f | %.2f | %.0f | %.3f | %.2f | %.1f |%n",
              p.get("consumers").asInt(),
              p.get("tokens").asLong(),
              p.get("wall_s").asDouble(),
              p.get("tokens_per_s").asDouble(),
              p.get("ratio_over_first").asDouble(),
              p.get("ms_per_step").asDouble(),
              p.get("projected_tokens_per_s").asDouble(),
              p.get("projected_ratio_over_first").asDouble(),
              p.get("mean_consumers_per_adapter").asDouble(),
              p.get("broker_batcher_bench_cpu_s").asDouble()));
    }
    b.append(
        "\nProjected: each consumer on a core of its own, its engine steps as fast as in the"
            + " first row's phase, so the phase lasts as long as the consumer with the most steps"
            + " takes: the tokens over that. It keeps the imbalance between consumers and their"
            + " tokens per step; it leaves out that here the consumers share two vCPUs with each"
            + " other and with the broker, the batcher and the load (last column), which makes"
            + " each step slower (ms per step).\n\nPer consumer (requests / tokens / distinct adapters / process CPU s / engine"
            + " steps / seconds in steps / tokens per step):\n\n");
    for (var p : o.get("phases")) {
      b.append("- ").append(p.get("consumers").asInt()).append(" consumer(s): ");
      List<String> parts = new ArrayList<>();
      p.get("per_consumer")
          .properties()
          .forEach(
              e ->
                  parts.add(
                      String.format(
                          Locale.ROOT,
                          "%s %d / %d / %d / %.1f / %.0f / %.1f / %.1f",
                          e.getKey(),
                          e.getValue().get("requests").asInt(),
                          e.getValue().get("tokens").asLong(),
                          e.getValue().get("adapters").asInt(),
                          e.getValue().get("cpu_s").asDouble(),
                          e.getValue().get("engine_steps").asDouble(),
                          e.getValue().get("engine_step_s").asDouble(),
                          e.getValue().get("tokens_per_step").asDouble())));
      b.append(String.join("; ", parts)).append('\n');
    }
    var r = o.get("rebalance");
    b.append("\nRebalance under load: ").append(r.get("what").asText()).append(". Whole run: ");
    b.append(
        String.format(
            Locale.ROOT,
            "%d sent, %d answered, %d lost, %d duplicated, errors %s.%n",
            r.get("sent").asInt(),
            r.get("answered").asInt(),
            r.get("lost").asInt(),
            r.get("duplicated").asInt(),
            r.get("errors").asText()));
    if (!o.get("note").asText().isEmpty()) {
      b.append('\n').append(o.get("note").asText()).append('\n');
    }
    return b.toString();
  }

  private void progress(String format, Object... args) {
    err.println("scale> " + String.format(Locale.ROOT, format, args));
  }
}
