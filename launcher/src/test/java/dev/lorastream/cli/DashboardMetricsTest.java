package dev.lorastream.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lorastream.batcher.BatcherApp;
import dev.lorastream.batcher.BatcherConfig;
import dev.lorastream.consumer.ConsumerSettings;
import dev.lorastream.consumer.InferenceConsumer;
import dev.lorastream.devstack.TestKafkaCluster;
import dev.lorastream.engine.sched.AdapterInfo;
import dev.lorastream.engine.sched.TenantServed;
import dev.lorastream.ingest.LoraClient;
import dev.lorastream.ingest.LoraClientConfig;
import dev.lorastream.ingest.PromptTokenizer;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.MetricsServer;
import dev.lorastream.schemas.SamplingParams;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;

/**
 * The Grafana dashboard {@code deploy/grafana/dashboards/lorastream.json} against a running
 * pipeline: client, batcher and inference consumer in-process (as {@code lorastream demo --serve}
 * wires them: the batcher's own {@code /metrics}, the consumer's Prometheus registry behind {@link
 * MetricsServer}), a few requests over two tenants and two adapters, both {@code /metrics} scraped
 * over HTTP while the requests run and after. Every series a dashboard query names must be in the
 * scrape of its service ({@code job} matcher, else the one service that exports it), every label it
 * groups or matches on must be on that series (a matched value must occur), and the scrape must
 * keep to Prometheus' conventions: counters end in {@code _total}, lorastream's own series carry
 * only the labels the code defines, and no label carries a request or batch id.
 */
class DashboardMetricsTest {
  private static final Path HOME = Path.of("").toAbsolutePath().getParent(); // surefire: launcher/
  private static final Path DASHBOARD = HOME.resolve("deploy/grafana/dashboards/lorastream.json");
  private static final Path DATASOURCES =
      HOME.resolve("deploy/grafana/provisioning/datasources/prometheus.yml");

  /** Labels Prometheus adds at scrape time (deploy/prometheus.yml), not in the exposition. */
  private static final Set<String> TARGET_LABELS = Set.of("job", "instance");

  /** The Prometheus job of each service (deploy/prometheus.yml). */
  private static final List<String> JOBS = List.of("batcher", "consumer");

  /**
   * The label names lorastream's own meters use ({@code BatcherMetrics}, {@code ConsumerMetrics},
   * {@code AdapterMeters}, the batcher's common tag {@code service}) plus Prometheus' histogram and
   * summary labels.
   */
  private static final Set<String> LORASTREAM_LABELS =
      Set.of(
          "outcome",
          "code",
          "reason",
          "kind",
          "tenant",
          "adapter",
          "tier",
          "holder",
          "service",
          "le",
          "quantile");

  /** PromQL words that are not series names (functions are told apart by a following "("). */
  private static final Set<String> PROMQL_WORDS =
      Set.of(
          "by",
          "without",
          "on",
          "ignoring",
          "group_left",
          "group_right",
          "bool",
          "and",
          "or",
          "unless",
          "offset",
          "inf",
          "nan",
          "atan2");

  private static final Pattern IDENT = Pattern.compile("[a-zA-Z_:][a-zA-Z0-9_:]*");
  private static final Pattern RATE = Pattern.compile("\\b(rate|irate|increase)\\s*\\(");
  private static final Pattern GROUPING = Pattern.compile("\\b(by|without)\\s*\\(([^)]*)\\)");
  private static final Pattern MATCHER =
      Pattern.compile(
          "\\s*([a-zA-Z_][a-zA-Z0-9_]*)\\s*(=~|!=|!~|=)\\s*\"((?:[^\"\\\\]|\\\\.)*)\"\\s*");

  /**
   * One series per item the dashboard covers: throughput, TTFT, TPOT, latency, queue depth,
   * consumer lag, batch fill, adapter cache tiers, the KV/adapter pool split, per-adapter and
   * per-tenant usage.
   */
  private static final List<String> COVERED =
      List.of(
          "lorastream_batcher_requests_total",
          "lorastream_engine_tokens_generated_total",
          "lorastream_consumer_time_to_first_token_seconds_bucket",
          "lorastream_consumer_time_per_output_token_seconds_bucket",
          "lorastream_consumer_request_latency_seconds_bucket",
          "lorastream_engine_step_seconds_total",
          "lorastream_batcher_batch_wait_seconds_bucket",
          "lorastream_batcher_buffered_requests",
          "lorastream_engine_queue_depth_sequences",
          "kafka_consumer_fetch_manager_records_lag_max",
          "lorastream_batcher_batch_fill_ratio_bucket",
          "lorastream_batcher_batch_adapters_sum",
          "lorastream_adapters_host_hits_total",
          "lorastream_engine_adapter_loads_total",
          "lorastream_adapter_resident",
          "lorastream_engine_pool_pages",
          "lorastream_adapter_requests_running",
          "lorastream_tenant_served_tokens_total");

  private static final int ADAPTER_SERIES_CAP = 100; // AdapterMeters.DEFAULT_MAX_SERIES

  @TempDir Path tmp;

  /** One scrape (or the union of several): metric name → its series' label sets. */
  record Exposition(Map<String, Set<Map<String, String>>> series, Map<String, String> types) {
    Exposition() {
      this(new TreeMap<>(), new TreeMap<>());
    }

    void add(String text) {
      for (String line : text.split("\n")) {
        if (line.startsWith("# TYPE ")) {
          String[] p = line.substring(7).trim().split(" ");
          types.put(p[0], p[1]);
        } else if (!line.isBlank() && !line.startsWith("#")) {
          parseSample(line, series);
        }
      }
    }

    Set<String> labelNames(String metric) {
      Set<String> out = new TreeSet<>();
      series.getOrDefault(metric, Set.of()).forEach(s -> out.addAll(s.keySet()));
      return out;
    }
  }

  @Test
  void everyDashboardQueryNamesSeriesOfTheRunningPipeline() throws Exception {
    DemoFixtures fx = DemoFixtures.prepare(tmp, tmp.resolve("work"), 2);
    List<String> adapters = List.copyOf(fx.adapters().keySet());
    String registry = "mock://dashboard-" + System.nanoTime();
    Map<String, Exposition> scraped = new LinkedHashMap<>();
    Set<String> ids = new TreeSet<>(); // request and batch ids: never a label value
    try (TestKafkaCluster cluster = TestKafkaCluster.start()) {
      DemoFixtures.createTopics(cluster.bootstrapServers());
      fx.publishAdapters(cluster.bootstrapServers(), Map.of("schema.registry.url", registry));
      Properties bp = new Properties();
      bp.put("bootstrap.servers", cluster.bootstrapServers());
      bp.put("schema.registry.url", registry);
      bp.put("state.dir", Files.createTempDirectory(tmp, "batcher").toString());
      bp.put(BatcherConfig.METRICS_PORT, "0"); // any free port, as demo --serve
      bp.put(BatcherConfig.MAX_WAIT_MS, "20");
      bp.put("commit.interval.ms", "20");
      PrometheusMeterRegistry consumerMeters =
          new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
      try (BatcherApp batcher = BatcherApp.start(BatcherConfig.fromProperties(bp));
          InferenceConsumer consumer =
              everyStep(
                  () ->
                      new InferenceConsumer(
                          fx.consumerSettings(
                              cluster.bootstrapServers(), registry, "dashboard-consumer", Map.of()),
                          DemoFixtures.engineConfig(),
                          consumerMeters));
          MetricsServer consumerMetrics =
              MetricsServer.start(
                  consumerMeters, 0, ConsumerSettings.METRICS_PORT, consumer::healthy);
          PromptTokenizer tok = PromptTokenizer.load(fx.modelDir());
          LoraClient client =
              new LoraClient(
                  LoraClientConfig.of(cluster.bootstrapServers(), registry)
                      .withDefaultTimeout(Duration.ofSeconds(90)),
                  tok,
                  null)) {
        Thread serving = Thread.ofPlatform().start(() -> DemoFixtures.serve(consumer, "dashboard"));
        assertTrue(batcher.awaitRunning(Duration.ofSeconds(60)), "batcher running");
        Map<String, URI> urls = new LinkedHashMap<>();
        urls.put("batcher", URI.create("http://127.0.0.1:" + batcher.metricsPort() + "/metrics"));
        urls.put("consumer", URI.create("http://127.0.0.1:" + consumerMetrics.port() + "/metrics"));
        urls.keySet().forEach(j -> scraped.put(j, new Exposition()));
        HttpClient http = HttpClient.newHttpClient();

        // two tenants, each on its own adapter and on the base model; scraped while they run,
        // since per-adapter gauges exist only while their adapter has work (another round if no
        // scrape caught one)
        for (int round = 0; round < 3 && !sawAdapterGauges(scraped.get("consumer")); round++) {
          List<CompletableFuture<InferenceResult>> replies = new ArrayList<>();
          for (int i = 0; i < 12; i++) {
            String adapter = i % 3 == 2 ? null : adapters.get(i % 2);
            String tenant = adapter == null ? fx.tenants().get(i % 2) : fx.adapters().get(adapter);
            String id = "dash-" + round + "-" + i;
            ids.add(id);
            replies.add(client.submit(request(id, tenant, adapter)));
          }
          while (!replies.stream().allMatch(CompletableFuture::isDone)) {
            scrapeInto(http, urls, scraped);
            Thread.sleep(20);
          }
          for (CompletableFuture<InferenceResult> f : replies) {
            InferenceResult r = f.get(90, TimeUnit.SECONDS);
            assertNull(r.getErrorCode(), r.getErrorMessage());
            ids.add(r.getBatchId());
          }
        }
        Thread.sleep(500); // the gauges' last snapshot, the counters' last step
        scrapeInto(http, urls, scraped);
        consumer.stop();
        serving.join(10_000);
      }
    }
    // what was scraped, for whoever edits the dashboard: target/dashboard-metrics/<job>.txt
    Path dump = Path.of("target/dashboard-metrics");
    Files.createDirectories(dump);
    for (var e : scraped.entrySet()) {
      StringBuilder b = new StringBuilder();
      e.getValue()
          .series()
          .forEach(
              (n, s) ->
                  b.append(n)
                      .append(' ')
                      .append(e.getValue().types().get(n))
                      .append(' ')
                      .append(s)
                      .append('\n'));
      Files.writeString(dump.resolve(e.getKey() + ".txt"), b.toString());
    }

    checkConventions(scraped, ids);
    checkDashboard(scraped);
  }

  /**
   * Made with the engine's adapter snapshot taken at every step (by default once a second, and the
   * tiny model's requests can all finish between two: a scrape then never sees the per-adapter
   * gauges, which exist only while an adapter has work).
   */
  private static InferenceConsumer everyStep(java.util.function.Supplier<InferenceConsumer> make) {
    String before = System.getProperty(AdapterInfo.INTERVAL_MS_PROPERTY);
    System.setProperty(AdapterInfo.INTERVAL_MS_PROPERTY, "0");
    try {
      return make.get();
    } finally {
      if (before == null) {
        System.clearProperty(AdapterInfo.INTERVAL_MS_PROPERTY);
      } else {
        System.setProperty(AdapterInfo.INTERVAL_MS_PROPERTY, before);
      }
    }
  }

  private static boolean sawAdapterGauges(Exposition consumer) {
    return consumer.labelNames("lorastream_adapter_requests_running").contains("adapter")
        && consumer.labelNames("lorastream_adapter_resident").contains("tier");
  }

  private static InferenceRequest.Builder request(String id, String tenant, String adapter) {
    return InferenceRequest.newBuilder()
        .setRequestId(id)
        .setTenantId(tenant)
        .setAdapterId(adapter)
        .setPrompt("Once upon a time")
        .setSampling(
            SamplingParams.newBuilder()
                .setMaxTokens(120)
                .setTemperature(0f)
                .setIgnoreEos(true)
                .build());
  }

  private static void scrapeInto(
      HttpClient http, Map<String, URI> urls, Map<String, Exposition> into)
      throws IOException, InterruptedException {
    for (var e : urls.entrySet()) {
      HttpResponse<String> r =
          http.send(
              HttpRequest.newBuilder(e.getValue()).timeout(Duration.ofSeconds(10)).build(),
              HttpResponse.BodyHandlers.ofString());
      assertEquals(200, r.statusCode(), e.getKey() + " /metrics");
      into.get(e.getKey()).add(r.body());
    }
  }

  // ---- Prometheus conventions of what the services export

  private static void checkConventions(Map<String, Exposition> scraped, Set<String> ids) {
    List<String> problems = new ArrayList<>();
    for (var svc : scraped.entrySet()) {
      Exposition x = svc.getValue();
      assertFalse(x.series().isEmpty(), svc.getKey() + " exported nothing");
      for (var t : x.types().entrySet()) {
        String family = t.getKey();
        if (!family.startsWith("lorastream_")) {
          continue;
        }
        for (String name : x.series().keySet()) {
          if (!sameFamily(family, name)) {
            continue;
          }
          if (t.getValue().equals("counter")
              && !(name.endsWith("_total") || name.endsWith("_created"))) {
            problems.add(svc.getKey() + ": counter " + name + " does not end in _total");
          }
          if (!t.getValue().equals("counter") && name.endsWith("_total")) {
            problems.add(svc.getKey() + ": " + t.getValue() + " " + name + " ends in _total");
          }
        }
      }
      Map<String, Set<String>> labelValues = new TreeMap<>();
      for (var m : x.series().entrySet()) {
        for (Map<String, String> s : m.getValue()) {
          for (var l : s.entrySet()) {
            if (ids.contains(l.getValue())) {
              problems.add(svc.getKey() + ": " + m.getKey() + " has an id as label " + l);
            }
            if (m.getKey().startsWith("lorastream_")) {
              if (!LORASTREAM_LABELS.contains(l.getKey())) {
                problems.add(svc.getKey() + ": " + m.getKey() + " has label " + l.getKey());
              }
              labelValues.computeIfAbsent(l.getKey(), k -> new TreeSet<>()).add(l.getValue());
            }
          }
        }
      }
      // cardinality caps: TenantServed.MAX_NAMED named tenants + other + none, AdapterMeters'
      // cap + _other
      int tenants = labelValues.getOrDefault("tenant", Set.of()).size();
      int adapters = labelValues.getOrDefault("adapter", Set.of()).size();
      if (tenants > TenantServed.MAX_NAMED + 2 || adapters > ADAPTER_SERIES_CAP + 1) {
        problems.add(svc.getKey() + ": " + tenants + " tenants, " + adapters + " adapters");
      }
    }
    assertTrue(problems.isEmpty(), () -> "convention problems:\n" + String.join("\n", problems));
    // the demo's tenants and adapters are there, by label
    Exposition consumer = scraped.get("consumer");
    assertTrue(
        consumer.labelNames("lorastream_tenant_served_tokens_total").contains("tenant"),
        "per-tenant tokens");
    assertTrue(
        consumer.labelNames("lorastream_adapter_requests_running").contains("adapter"),
        "per-adapter gauges");
  }

  /** Whether sample {@code name} belongs to metric family {@code family} (# TYPE name). */
  private static boolean sameFamily(String family, String name) {
    if (name.equals(family)) {
      return true;
    }
    for (String suffix : List.of("_total", "_created", "_bucket", "_count", "_sum", "_max")) {
      if (name.equals(family + suffix)) {
        return true;
      }
    }
    return false;
  }

  // ---- the dashboard

  private static void checkDashboard(Map<String, Exposition> scraped) throws IOException {
    JsonNode dash = new ObjectMapper().readTree(Files.readString(DASHBOARD));
    assertEquals("lorastream", dash.path("uid").asText());
    assertTrue(dash.path("schemaVersion").asInt() >= 39, "schemaVersion");
    String datasource = datasourceUid();
    List<String> problems = new ArrayList<>();
    Set<Integer> panelIds = new TreeSet<>();
    int queries = 0;
    Set<String> used = new TreeSet<>(); // series names the queries use
    for (JsonNode panel : panels(dash)) {
      String title = panel.path("title").asText();
      if (panel.path("type").asText().equals("row")) {
        continue;
      }
      if (!panelIds.add(panel.path("id").asInt())) {
        problems.add(title + ": panel id " + panel.path("id") + " twice");
      }
      if (!datasource.equals(panel.path("datasource").path("uid").asText())) {
        problems.add(title + ": datasource " + panel.path("datasource"));
      }
      JsonNode targets = panel.path("targets");
      if (targets.isEmpty()) {
        problems.add(title + ": no targets");
      }
      for (JsonNode t : targets) {
        if (!t.path("datasource").isMissingNode()
            && !datasource.equals(t.path("datasource").path("uid").asText())) {
          problems.add(title + ": target datasource " + t.path("datasource"));
        }
        queries++;
        problems.addAll(checkExpr(title, t.path("expr").asText(), scraped, used));
      }
    }
    assertTrue(queries > 0, "the dashboard has queries");
    // each item the dashboard is for keeps a query (a panel deleted by mistake shows here)
    for (String s : COVERED) {
      if (!used.contains(s)) {
        problems.add("no query uses " + s);
      }
    }
    assertTrue(problems.isEmpty(), () -> "dashboard queries:\n" + String.join("\n", problems));
  }

  /** The dashboard's panels, those inside collapsed rows included. */
  private static List<JsonNode> panels(JsonNode dash) {
    List<JsonNode> out = new ArrayList<>();
    for (JsonNode p : dash.path("panels")) {
      out.add(p);
      p.path("panels").forEach(out::add);
    }
    return out;
  }

  private static String datasourceUid() throws IOException {
    Map<String, Object> ds =
        new Yaml(new SafeConstructor(new LoaderOptions())).load(Files.readString(DATASOURCES));
    @SuppressWarnings("unchecked")
    List<Map<String, Object>> list = (List<Map<String, Object>>) ds.get("datasources");
    assertEquals(1, list.size());
    return String.valueOf(list.getFirst().get("uid"));
  }

  /** A series selector of a query: the name and its label matchers. */
  record Selector(String name, List<String[]> matchers) {
    String job() {
      return matchers.stream()
          .filter(m -> m[0].equals("job") && m[1].equals("="))
          .map(m -> m[2])
          .findFirst()
          .orElse(null);
    }
  }

  /**
   * What is wrong with {@code expr}: every series it names must be exported by the service of its
   * {@code job} matcher (or, without one, by exactly one service), every label it matches or groups
   * by must be on those series, and an {@code =} matcher's value must occur.
   */
  static List<String> checkExpr(
      String title, String expr, Map<String, Exposition> scraped, Set<String> used) {
    List<String> problems = new ArrayList<>();
    String where = title + ": " + expr + ": ";
    if (expr.isBlank()) {
      return List.of(where + "no expr");
    }
    String e = expr.replaceAll("\\[[^\\]]*\\]", " "); // ranges, $__rate_interval among them
    Map<Integer, Selector> selectors = selectorsAt(e, where, problems);
    if (selectors.isEmpty()) {
      problems.add(where + "names no series");
    }
    selectors.values().forEach(s -> used.add(s.name()));
    // by (...) / without (...) clauses by offset; bare = e with them and all {...} blanked
    String braceless = blank(e, Pattern.compile("\\{[^}]*\\}"));
    Map<Integer, String> groupings = new TreeMap<>();
    Matcher g = GROUPING.matcher(braceless);
    while (g.find()) {
      groupings.put(g.start(), g.group(2));
    }
    String bare = blank(braceless, GROUPING);
    if (bare.contains("$")) {
      problems.add(where + "a template variable outside a range");
    }
    Map<Selector, String> jobs = new LinkedHashMap<>();
    for (Selector s : selectors.values()) {
      String job = s.job();
      if (job != null && !scraped.containsKey(job)) {
        problems.add(where + "job \"" + job + "\" is none of " + JOBS);
        continue;
      }
      List<String> in =
          job != null
              ? (scraped.get(job).series().containsKey(s.name()) ? List.of(job) : List.of())
              : scraped.keySet().stream()
                  .filter(j -> scraped.get(j).series().containsKey(s.name()))
                  .toList();
      if (in.isEmpty()) {
        problems.add(
            where + s.name() + " is not exported by " + (job != null ? job : "any service"));
        continue;
      }
      if (in.size() > 1) {
        problems.add(where + s.name() + " is exported by " + in + ": add a job matcher");
        continue;
      }
      jobs.put(s, in.getFirst());
      Exposition x = scraped.get(in.getFirst());
      for (String[] m : s.matchers()) {
        if (TARGET_LABELS.contains(m[0])) {
          continue;
        }
        if (!x.labelNames(s.name()).contains(m[0])) {
          problems.add(where + s.name() + " has no label " + m[0]);
        } else if (m[1].equals("=")
            && x.series().get(s.name()).stream().noneMatch(l -> m[2].equals(l.get(m[0])))) {
          problems.add(where + s.name() + " has no series with " + m[0] + "=\"" + m[2] + "\"");
        }
      }
    }
    // by (...) / without (...): each label on every series of the aggregation's argument
    for (var gr : groupings.entrySet()) {
      int open = bare.indexOf('(', gr.getKey() + 1);
      // the grouping's own parentheses were blanked: the next "(" opens the argument
      int close = open < 0 ? -1 : matching(bare, open);
      if (open < 0 || close < 0 || !bare.substring(gr.getKey(), open).isBlank()) {
        problems.add(where + "write by/without before the aggregation's argument");
        continue;
      }
      for (String label : gr.getValue().split(",")) {
        String l = label.trim();
        if (l.isEmpty() || TARGET_LABELS.contains(l)) {
          continue;
        }
        for (var s : selectors.entrySet()) {
          if (s.getKey() > open && s.getKey() < close && jobs.containsKey(s.getValue())) {
            Selector sel = s.getValue();
            if (!scraped.get(jobs.get(sel)).labelNames(sel.name()).contains(l)) {
              problems.add(where + "grouped by " + l + ", which " + sel.name() + " does not have");
            }
          }
        }
      }
    }
    // rate, irate and increase only of counters (and histogram or summary _bucket, _count, _sum);
    // those never without one
    List<int[]> rated = new ArrayList<>();
    Matcher f = RATE.matcher(bare);
    while (f.find()) {
      rated.add(new int[] {f.end() - 1, matching(bare, f.end() - 1)});
    }
    for (var s : selectors.entrySet()) {
      String job = jobs.get(s.getValue());
      if (job == null) {
        continue;
      }
      String name = s.getValue().name();
      boolean inRate = rated.stream().anyMatch(r -> s.getKey() > r[0] && s.getKey() < r[1]);
      boolean cumulative = cumulative(scraped.get(job), name);
      if (inRate && !cumulative) {
        problems.add(where + "rate/increase of " + name + ", which is no counter");
      } else if (!inRate && cumulative) {
        problems.add(where + "counter " + name + " without rate/increase");
      }
    }
    return problems;
  }

  /** Whether {@code name} only grows: a counter, or a histogram's or summary's cumulative part. */
  private static boolean cumulative(Exposition x, String name) {
    if ("counter".equals(x.types().get(name))) {
      return true;
    }
    for (String suffix : List.of("_total", "_bucket", "_count", "_sum")) {
      if (name.endsWith(suffix)) {
        String type = x.types().get(name.substring(0, name.length() - suffix.length()));
        return suffix.equals("_total")
            ? "counter".equals(type)
            : "histogram".equals(type) || "summary".equals(type);
      }
    }
    return false;
  }

  /** The series selectors of {@code e} (ranges removed), by their offset in it. */
  private static Map<Integer, Selector> selectorsAt(String e, String where, List<String> problems) {
    Map<Integer, Selector> out = new TreeMap<>();
    // the text without label matchers and grouping labels, same offsets
    String m = blank(blank(e, Pattern.compile("\\{[^}]*\\}")), GROUPING);
    Matcher id = IDENT.matcher(m);
    while (id.find()) {
      String word = id.group();
      int after = id.end();
      while (after < m.length() && m.charAt(after) == ' ' && e.charAt(after) != '{') {
        after++;
      }
      boolean function = after < m.length() && m.charAt(after) == '(';
      boolean number = id.start() > 0 && Character.isDigit(m.charAt(id.start() - 1));
      if (function || number || PROMQL_WORDS.contains(word.toLowerCase())) {
        continue;
      }
      if (word.startsWith("$")) {
        continue;
      }
      List<String[]> matchers = new ArrayList<>();
      int brace = id.end();
      while (brace < e.length() && e.charAt(brace) == ' ') {
        brace++;
      }
      if (brace < e.length() && e.charAt(brace) == '{') {
        int end = e.indexOf('}', brace);
        String inside = e.substring(brace + 1, end).trim();
        if (!inside.isEmpty()) {
          for (String part : splitMatchers(inside)) {
            Matcher mm = MATCHER.matcher(part);
            if (!mm.matches()) {
              problems.add(where + "cannot read label matcher " + part);
              continue;
            }
            matchers.add(new String[] {mm.group(1), mm.group(2), mm.group(3)});
          }
        }
      }
      out.put(id.start(), new Selector(word, matchers));
    }
    // a matcher block with no name before it ({__name__=...}) is not used here
    Matcher bare = Pattern.compile("(^|[^a-zA-Z0-9_:\\s])\\s*\\{").matcher(e);
    if (bare.find()) {
      problems.add(where + "a selector without a metric name");
    }
    return out;
  }

  /** {@code s} with every match of {@code p} replaced by as many blanks. */
  private static String blank(String s, Pattern p) {
    StringBuilder b = new StringBuilder(s);
    Matcher m = p.matcher(s);
    while (m.find()) {
      for (int i = m.start(); i < m.end(); i++) {
        b.setCharAt(i, ' ');
      }
    }
    return b.toString();
  }

  /** {@code a="x",b=~"y,z"} split at the commas outside quotes. */
  private static List<String> splitMatchers(String inside) {
    List<String> out = new ArrayList<>();
    StringBuilder cur = new StringBuilder();
    boolean quoted = false;
    for (int i = 0; i < inside.length(); i++) {
      char c = inside.charAt(i);
      if (c == '\\' && quoted && i + 1 < inside.length()) {
        cur.append(c).append(inside.charAt(++i));
        continue;
      }
      if (c == '"') {
        quoted = !quoted;
      }
      if (c == ',' && !quoted) {
        out.add(cur.toString());
        cur.setLength(0);
      } else {
        cur.append(c);
      }
    }
    if (!cur.toString().isBlank()) {
      out.add(cur.toString());
    }
    return out;
  }

  /** The offset of the ")" that closes the "(" at {@code open}, or -1. */
  private static int matching(String s, int open) {
    int depth = 0;
    for (int i = open; i < s.length(); i++) {
      if (s.charAt(i) == '(') {
        depth++;
      } else if (s.charAt(i) == ')' && --depth == 0) {
        return i;
      }
    }
    return -1;
  }

  /** Adds one sample line ({@code name{l="v",...} value [timestamp]}) to {@code into}. */
  private static void parseSample(String line, Map<String, Set<Map<String, String>>> into) {
    int i = 0;
    while (i < line.length() && line.charAt(i) != '{' && line.charAt(i) != ' ') {
      i++;
    }
    String name = line.substring(0, i);
    Map<String, String> labels = new TreeMap<>();
    if (i < line.length() && line.charAt(i) == '{') {
      i++;
      while (line.charAt(i) != '}') {
        int eq = line.indexOf('=', i);
        String key = line.substring(i, eq).trim();
        i = eq + 2; // past ="
        StringBuilder v = new StringBuilder();
        while (line.charAt(i) != '"') {
          if (line.charAt(i) == '\\') {
            i++;
          }
          v.append(line.charAt(i++));
        }
        i++; // past the closing quote
        labels.put(key, v.toString());
        if (line.charAt(i) == ',') {
          i++;
        }
      }
    }
    if (name.isEmpty()) {
      fail("cannot read sample line: " + line);
    }
    into.computeIfAbsent(name, k -> new LinkedHashSet<>()).add(labels);
  }
}
