package dev.lorastream.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.lorastream.bench.MachineInfo;
import dev.lorastream.bench.Stats;
import dev.lorastream.devstack.EmbeddedKafka;
import dev.lorastream.gateway.Gateway;
import dev.lorastream.gateway.GatewayConfig;
import dev.lorastream.gateway.TenantKeys;
import dev.lorastream.ingest.LoraClient;
import dev.lorastream.ingest.LoraClientConfig;
import dev.lorastream.ingest.PromptTokenizer;
import dev.lorastream.schemas.FinishReason;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.SamplingParams;
import java.io.PrintWriter;
import java.net.HttpURLConnection;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code lorastream bench gateway}: what the HTTP gateway adds to a request, and how many streaming
 * connections it holds. On the demo's stack (in-process broker, batcher, one CPU consumer, the
 * gateway), the same request (greedy, same adapter, prompt and {@code max_tokens}) is sent one at a
 * time, alternately through {@link LoraClient} and as {@code POST /v1/completions}; each
 * repetition's median HTTP latency over its median client latency is one ratio. Then {@code
 * --streams} streaming requests are opened at once (one HTTP/1.1 connection each) and every one
 * must end with {@code data: [DONE]}. Writes report.md and results.json.
 */
@Command(
    name = "gateway",
    mixinStandardHelpOptions = true,
    description =
        "HTTP gateway vs LoraClient latency on the same requests (alternating, one at a time), then"
            + " N concurrent streaming connections.")
final class GatewayBench implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Option(names = "--out", description = "report folder (default bench/reports/<date>-gateway)")
  Path out;

  @Option(names = "--work", defaultValue = "build/bench-gateway", description = "work folder")
  Path work;

  @Option(names = "--requests", defaultValue = "100", description = "requests per path and rep")
  int requests;

  @Option(names = "--reps", defaultValue = "3")
  int reps;

  @Option(
      names = "--think-ms",
      defaultValue = "50",
      description =
          "pause between one request's answer and the next request (default ${DEFAULT-VALUE}):"
              + " the pipeline finishes the last request's work (its transaction's commit) before"
              + " the next is timed, as for a user's requests that do not arrive back to back")
  int thinkMs;

  @Option(names = "--max-tokens", defaultValue = "16")
  int maxTokens;

  @Option(
      names = "--streams",
      defaultValue = "1000",
      description = "concurrent streaming connections (0 = skip)")
  int streams;

  @Option(names = "--stream-tokens", defaultValue = "4", description = "max_tokens of each stream")
  int streamTokens;

  @Option(names = "--note", defaultValue = "", description = "a sentence for the report")
  String note;

  private final ObjectMapper json = new ObjectMapper();

  @Override
  public Integer call() throws Exception {
    if (requests < 5
        || reps < 1
        || thinkMs < 0
        || maxTokens < 1
        || streams < 0
        || streamTokens < 1) {
      throw new IllegalArgumentException(
          "--requests >= 5, --reps >= 1, --think-ms >= 0, --max-tokens >= 1, --streams >= 0, --stream-tokens >= 1");
    }
    Path home = Path.of(System.getProperty("lorastream.home", ".")).toAbsolutePath().normalize();
    Path dir =
        out != null ? out : home.resolve("bench/reports/" + java.time.LocalDate.now() + "-gateway");
    DemoFixtures fx = DemoFixtures.prepare(home, home.resolve(work).normalize(), 0);
    String adapter = "legal";
    String tenant = fx.adapters().get(adapter);
    String started = Instant.now().toString();
    String loadAtStart = PipelineBench.loadAverage();
    List<double[]> client = new ArrayList<>(); // per rep, latencies ms
    List<double[]> http = new ArrayList<>();
    List<Double> serverMeans = new ArrayList<>(); // per rep, the gateway's own mean, ms
    Streams streamed = null;
    try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
      String registry = "mock://bench-gateway-" + ProcessHandle.current().pid();
      DemoFixtures.createTopics(kafka.bootstrapServers());
      fx.publishAdapters(kafka.bootstrapServers(), Map.of("schema.registry.url", registry));
      Map<String, String> keys = TenantKeys.randomKeys(fx.tenants());
      try (ServingPipeline _ =
              ServingPipeline.start(fx, kafka.bootstrapServers(), registry, "bench-gateway");
          PromptTokenizer tok = PromptTokenizer.load(fx.modelDir());
          LoraClient direct =
              new LoraClient(
                  LoraClientConfig.of(kafka.bootstrapServers(), registry)
                      .withDefaultTimeout(Duration.ofSeconds(120)),
                  tok,
                  null);
          Gateway gateway =
              Gateway.start(
                  GatewayConfig.of(
                          kafka.bootstrapServers(),
                          registry,
                          fx.modelDir(),
                          TenantKeys.ofPlainKeys(keys))
                      .withAddress("127.0.0.1", 0)
                      .withLimits(
                          GatewayConfig.DEFAULT_MAX_BODY_BYTES,
                          GatewayConfig.DEFAULT_MAX_PROMPT,
                          Duration.ofSeconds(120))
                      .withBatch(
                          GatewayConfig.Batch.in(
                              home.resolve(work).normalize().resolve("gateway"))))) {
        String key = keys.get(tenant);
        String body =
            "{\"model\":\""
                + adapter
                + "\",\"prompt\":\"The \",\"max_tokens\":"
                + maxTokens
                + ",\"temperature\":0}";
        // untimed warm-up of both paths: JIT, adapter load, client metadata
        for (int i = 0; i < 5; i++) {
          viaClient(direct, tenant, adapter);
          viaHttp(gateway.url(), key, body);
        }
        long exchanges = 5; // HTTP requests sent so far
        for (int rep = 0; rep < reps; rep++) {
          double[] served = served(gateway, exchanges);
          double[] c = new double[requests];
          double[] h = new double[requests];
          for (int i = 0; i < requests; i++) {
            // alternate which goes first, so that neither always follows the other
            if (i % 2 == 0) {
              c[i] = viaClient(direct, tenant, adapter);
              Thread.sleep(thinkMs);
              h[i] = viaHttp(gateway.url(), key, body);
            } else {
              h[i] = viaHttp(gateway.url(), key, body);
              Thread.sleep(thinkMs);
              c[i] = viaClient(direct, tenant, adapter);
            }
            Thread.sleep(thinkMs);
          }
          client.add(c);
          http.add(h);
          exchanges += requests;
          double[] after = served(gateway, exchanges);
          if (after[0] - served[0] != requests) { // HttpURLConnection may resend a POST once
            throw new IllegalStateException(
                "the gateway answered "
                    + (long) (after[0] - served[0])
                    + " completions in a repetition of "
                    + requests
                    + " HTTP requests: some were sent twice, their times are not one exchange");
          }
          serverMeans.add((after[1] - served[1]) / (after[0] - served[0]));
          System.err.printf(
              Locale.ROOT,
              "bench gateway: rep %d: p50 LoraClient %.1f ms, HTTP %.1f ms, ratio %.3f;"
                  + " means: LoraClient %.1f, HTTP %.1f, in the gateway %.1f ms%n",
              rep,
              Stats.median(c),
              Stats.median(h),
              Stats.median(h) / Stats.median(c),
              Stats.mean(c),
              Stats.mean(h),
              serverMeans.getLast());
        }
        if (streams > 0) {
          streamed = streams(gateway.url(), key, adapter);
          System.err.println("bench gateway: " + streamed);
        }
      }
    }
    ObjectNode report = report(started, loadAtStart, client, http, serverMeans, streamed);
    Files.createDirectories(dir);
    json.writerWithDefaultPrettyPrinter().writeValue(dir.resolve("results.json").toFile(), report);
    Files.writeString(dir.resolve("report.md"), markdown(report));
    PrintWriter stdout = spec.commandLine().getOut();
    stdout.printf(
        Locale.ROOT,
        "ratio gateway_p50_over_client %.4f%n",
        report.get("gateway_p50_over_client").asDouble());
    if (streamed != null) {
      stdout.printf(
          Locale.ROOT,
          "streams %d sent, %d done, %d errors, peak open %d%n",
          streamed.sent(),
          streamed.done(),
          streamed.errors(),
          streamed.peakOpen());
    }
    stdout.flush();
    System.err.println("bench gateway: report in " + dir);
    return 0;
  }

  /**
   * The gateway's own count and total ms of answered {@code POST /v1/completions}, from its {@code
   * lorastream_gateway_requests_seconds} (first byte read to last byte written), once it has
   * counted {@code sent} of them or after 5 s: it records an exchange after writing its answer, so
   * the client can have read the answer first.
   */
  private static double[] served(Gateway gateway, long sent) throws InterruptedException {
    long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    while (true) {
      var t =
          gateway
              .meters()
              .find("lorastream.gateway.requests")
              .tags("route", "/v1/completions", "status", "200")
              .timer();
      double[] served =
          t == null
              ? new double[] {0, 0}
              : new double[] {t.count(), t.totalTime(TimeUnit.NANOSECONDS) / 1e6};
      if (served[0] >= sent || System.nanoTime() > end) {
        return served;
      }
      Thread.sleep(1);
    }
  }

  /**
   * One request through the client, submit to result; ms. The prompt goes as text, as in the HTTP
   * body: the client tokenizes it, as the gateway does.
   */
  private double viaClient(LoraClient c, String tenant, String adapter) throws Exception {
    long t0 = System.nanoTime();
    InferenceResult r =
        c.submit(
                InferenceRequest.newBuilder()
                    .setRequestId(UUID.randomUUID().toString())
                    .setTenantId(tenant)
                    .setAdapterId(adapter)
                    .setPrompt("The ")
                    .setSampling(
                        SamplingParams.newBuilder()
                            .setTemperature(0f)
                            .setMaxTokens(maxTokens)
                            .build()),
                Duration.ofSeconds(120))
            .get(150, TimeUnit.SECONDS);
    double ms = (System.nanoTime() - t0) / 1e6;
    if (r.getFinishReason() == FinishReason.ERROR) {
      throw new IllegalStateException("the client's request failed: " + r.getErrorMessage());
    }
    return ms;
  }

  /**
   * One request over HTTP, send to the whole body; ms. With {@link HttpURLConnection}: blocking, on
   * the caller's thread, its connection kept alive between calls, the body buffered so that it
   * leaves with the headers, as curl, Node's http and Python's http.client send a small body. (In
   * fixed-length streaming mode it wrote the headers and the body apart, and Jetty, which holds a
   * request until its body is there, answered a 404 from the same handler 1.4 ms later at the
   * median; the JDK's {@code HttpClient}, which hands each exchange between its own threads, 1.5 ms
   * later: the client's costs, not the gateway's.)
   */
  private static double viaHttp(String url, String key, String body) throws Exception {
    byte[] bytes = body.getBytes(java.nio.charset.StandardCharsets.UTF_8);
    long t0 = System.nanoTime();
    HttpURLConnection c =
        (HttpURLConnection) URI.create(url + "/v1/completions").toURL().openConnection();
    c.setRequestMethod("POST");
    c.setRequestProperty("Authorization", "Bearer " + key);
    c.setRequestProperty("Content-Type", "application/json");
    c.setDoOutput(true);
    try (var out = c.getOutputStream()) {
      out.write(bytes);
    }
    int status = c.getResponseCode();
    byte[] answer;
    try (var in = status == 200 ? c.getInputStream() : c.getErrorStream()) {
      answer = in.readAllBytes(); // read to the end: the connection goes back to the pool
    }
    double ms = (System.nanoTime() - t0) / 1e6;
    if (status != 200) {
      throw new IllegalStateException(
          "HTTP " + status + ": " + new String(answer, java.nio.charset.StandardCharsets.UTF_8));
    }
    return ms;
  }

  /** What the concurrent streams got. */
  record Streams(int sent, int done, int errors, int peakOpen, double wallS, String firstError) {}

  /**
   * Opens {@link #streams} streaming requests at once and waits for each to end; one that ends
   * without {@code data: [DONE]} or with another status is an error.
   */
  private Streams streams(String url, String key, String adapter) throws Exception {
    HttpClient hc =
        HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(60))
            .build();
    String body =
        "{\"model\":\""
            + adapter
            + "\",\"prompt\":\"The \",\"max_tokens\":"
            + streamTokens
            + ",\"temperature\":0,\"stream\":true}";
    AtomicInteger open = new AtomicInteger();
    AtomicInteger peak = new AtomicInteger();
    AtomicInteger done = new AtomicInteger();
    AtomicInteger errors = new AtomicInteger();
    List<String> firstError = new java.util.concurrent.CopyOnWriteArrayList<>();
    long t0 = System.nanoTime();
    List<CompletableFuture<Void>> all = new ArrayList<>(streams);
    for (int i = 0; i < streams; i++) {
      peak.accumulateAndGet(open.incrementAndGet(), Math::max);
      all.add(
          hc.sendAsync(
                  HttpRequest.newBuilder(URI.create(url + "/v1/completions"))
                      .timeout(Duration.ofSeconds(300))
                      .header("Authorization", "Bearer " + key)
                      .header("Content-Type", "application/json")
                      .POST(HttpRequest.BodyPublishers.ofString(body))
                      .build(),
                  HttpResponse.BodyHandlers.ofLines())
              .thenAccept(
                  r -> {
                    boolean ok;
                    try (Stream<String> lines = r.body()) {
                      ok = r.statusCode() == 200 && lines.anyMatch(l -> l.equals("data: [DONE]"));
                    }
                    (ok ? done : errors).incrementAndGet();
                    if (!ok && firstError.isEmpty()) {
                      firstError.add("HTTP " + r.statusCode());
                    }
                  })
              .exceptionally(
                  e -> {
                    errors.incrementAndGet();
                    if (firstError.isEmpty()) {
                      firstError.add(e.toString());
                    }
                    return null;
                  })
              .whenComplete((v, e) -> open.decrementAndGet()));
    }
    CompletableFuture.allOf(all.toArray(CompletableFuture[]::new)).get(600, TimeUnit.SECONDS);
    return new Streams(
        streams,
        done.get(),
        errors.get(),
        peak.get(),
        (System.nanoTime() - t0) / 1e9,
        firstError.isEmpty() ? null : firstError.getFirst());
  }

  private ObjectNode report(
      String started,
      String loadAtStart,
      List<double[]> client,
      List<double[]> http,
      List<Double> serverMeans,
      Streams s) {
    ObjectNode o = json.createObjectNode();
    o.put("command", "./lorastream bench gateway");
    o.put("started", started);
    MachineInfo m = MachineInfo.detect();
    o.put("machine", m.cpuModel() + ", " + m.cores() + " cores, " + m.jdk() + ", " + m.os());
    o.put("requests_per_rep", requests);
    o.put("max_tokens", maxTokens);
    double[] ratios = new double[client.size()];
    ArrayNode runs = o.putArray("reps");
    for (int i = 0; i < client.size(); i++) {
      ratios[i] = Stats.median(http.get(i)) / Stats.median(client.get(i));
      ObjectNode r = runs.addObject();
      r.put("client_p50_ms", Stats.median(client.get(i)));
      r.put("http_p50_ms", Stats.median(http.get(i)));
      r.put("client_p90_ms", Stats.percentile(client.get(i), 90));
      r.put("http_p90_ms", Stats.percentile(http.get(i), 90));
      r.put("ratio", ratios[i]);
      r.put("client_mean_ms", Stats.mean(client.get(i)));
      r.put("http_mean_ms", Stats.mean(http.get(i)));
      r.put("gateway_mean_ms", serverMeans.get(i));
    }
    o.put("gateway_p50_over_client", Stats.median(ratios));
    o.put("gateway_p50_over_client_min", Stats.min(ratios));
    o.put("gateway_p50_over_client_max", Stats.max(ratios));
    if (s != null) {
      ObjectNode st = o.putObject("streams");
      st.put("sent", s.sent());
      st.put("done", s.done());
      st.put("errors", s.errors());
      st.put("peak_open", s.peakOpen());
      st.put("max_tokens", streamTokens);
      st.put("wall_s", s.wallS());
      st.put("first_error", s.firstError());
    }
    o.put(
        "note",
        (note.isEmpty() ? "" : note + " ")
            + "Load average at start "
            + loadAtStart
            + ", at end "
            + PipelineBench.loadAverage()
            + ".");
    return o;
  }

  private static String markdown(ObjectNode o) {
    StringBuilder b = new StringBuilder();
    b.append("# bench gateway\n\n");
    b.append("`").append(o.get("command").asText()).append("`, started ");
    b.append(o.get("started").asText()).append(", on ").append(o.get("machine").asText());
    b.append(".\n\nThe same request (adapter `legal`, prompt \"The \", greedy, max_tokens ");
    b.append(o.get("max_tokens").asInt()).append(") ").append(o.get("requests_per_rep").asInt());
    b.append(
        " times per repetition through each path, one at a time, alternating: LoraClient (submit"
            + " to result; the prompt as text, which it tokenizes) and POST /v1/completions (send"
            + " to whole body, with the JDK's HttpURLConnection, its connection kept alive, the"
            + " body sent with the headers).\n\n");
    b.append(
        "| rep | LoraClient p50 ms | HTTP p50 ms | LoraClient p90 ms | HTTP p90 ms | ratio |"
            + " LoraClient mean | HTTP mean | in the gateway, mean |\n");
    b.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    int i = 0;
    for (var r : o.get("reps")) {
      b.append(
          String.format(
              Locale.ROOT,
              "| %d | %.1f | %.1f | %.1f | %.1f | %.3f | %.1f | %.1f | %.1f |%n",
              i++,
              r.get("client_p50_ms").asDouble(),
              r.get("http_p50_ms").asDouble(),
              r.get("client_p90_ms").asDouble(),
              r.get("http_p90_ms").asDouble(),
              r.get("ratio").asDouble(),
              r.get("client_mean_ms").asDouble(),
              r.get("http_mean_ms").asDouble(),
              r.get("gateway_mean_ms").asDouble()));
    }
    b.append(
        "\nHTTP mean minus in-the-gateway mean is the exchange outside the gateway's handler (the"
            + " HTTP client, the socket, Jetty before and after it); in-the-gateway mean minus"
            + " LoraClient mean is the gateway's own work (key, JSON, checks; both paths tokenize) and its"
            + " LoraClient's difference from the direct one.\n");
    b.append(
        String.format(
            Locale.ROOT,
            "%n**gateway p50 / LoraClient p50: %.3f** (reps %.3f–%.3f; goal ≤ 1.05)%n",
            o.get("gateway_p50_over_client").asDouble(),
            o.get("gateway_p50_over_client_min").asDouble(),
            o.get("gateway_p50_over_client_max").asDouble()));
    if (o.has("streams")) {
      var s = o.get("streams");
      b.append(
          String.format(
              Locale.ROOT,
              "%nConcurrent streams: %d opened at once (max_tokens %d, one HTTP/1.1 connection"
                  + " each), %d ended with `data: [DONE]`, %d errors, at most %d open at once, all"
                  + " done in %.1f s%s.%n",
              s.get("sent").asInt(),
              s.get("max_tokens").asInt(),
              s.get("done").asInt(),
              s.get("errors").asInt(),
              s.get("peak_open").asInt(),
              s.get("wall_s").asDouble(),
              s.get("first_error").isNull()
                  ? ""
                  : " (first error: " + s.get("first_error").asText() + ")"));
    }
    b.append("\n").append(o.get("note").asText()).append("\n");
    return b.toString();
  }
}
