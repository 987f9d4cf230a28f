package dev.lorastream.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.batcher.BatcherConfig;
import dev.lorastream.consumer.ConsumerSettings;
import dev.lorastream.gateway.GatewayConfig;
import dev.lorastream.gateway.TenantKeys;
import dev.lorastream.schemas.EnvKeys;
import dev.lorastream.schemas.MetricsServer;
import dev.lorastream.schemas.Topic;
import dev.lorastream.schemas.Topics;
import java.io.IOException;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;

/**
 * The deployment files, checked without Docker or Helm: {@code docker-compose.yml} (with {@code
 * deploy/prometheus.yml}, the Grafana provisioning and the demo key file) and the Helm chart {@code
 * deploy/helm/lorastream}, whose templates are read with their Go-template actions removed. Every
 * setting they give a lorastream service must be one the service reads: the known variables come
 * from the services' own key constants ({@link ConsumerSettings}, {@link GatewayConfig}, {@link
 * BatcherConfig}) through {@link EnvKeys#variable}, and the topics from {@link Topics#all()}.
 */
class DeployFilesTest {
  private static final Path HOME = Path.of("").toAbsolutePath().getParent(); // surefire: launcher/
  private static final Path COMPOSE = HOME.resolve("docker-compose.yml");
  private static final Path CHART = HOME.resolve("deploy/helm/lorastream");

  /** The plain key of deploy/gateway-keys.demo.properties, published in docs/deploy.md. */
  private static final String DEMO_KEY = "ls-demo-NOT-A-SECRET";

  private static final String BROKER = "kafka:9092";
  private static final String REGISTRY_URL = "http://registry:8080/apis/ccompat/v7";

  /** A Go-template action, {@code {{ ... }}} or {@code {{- ... -}}}. */
  private static final Pattern ACTION = Pattern.compile("\\{\\{.*?}}", Pattern.DOTALL);

  private static final Pattern VALUES_REF =
      Pattern.compile("\\.Values((?:\\.[A-Za-z_][A-Za-z0-9_]*)+)");
  private static final Pattern TOPIC_ARG = Pattern.compile("--topic\\s+(\\S+)");

  /** Compose's {@code ${NAME:-default}}. */
  private static final Pattern DEFAULTED =
      Pattern.compile("\\$\\{[A-Za-z_][A-Za-z0-9_]*:-([^}]*)}");

  /** What a launcher subcommand reads from its environment. */
  private enum Service {
    BATCHER,
    CONSUMER,
    GATEWAY;

    /** Why {@code variable} is not a setting of this service; empty when it is. */
    Optional<String> refuse(String variable) {
      if (variable.equals("JAVA_OPTS") || variable.equals("DJL_CACHE_DIR")) {
        return Optional.empty(); // the image's JVM flags; the tokenizer's native library cache
      }
      return switch (this) {
        case BATCHER -> {
          if (variable.startsWith("BATCHER_")) {
            yield known(variable, batcherVariables());
          }
          // KAFKA_* and SCHEMA_REGISTRY_URL are passed to Kafka Streams as they are
          yield variable.startsWith("KAFKA_") || variable.equals("SCHEMA_REGISTRY_URL")
              ? Optional.empty()
              : Optional.of(variable + " is not read by the batcher (BATCHER_*, KAFKA_*)");
        }
        case CONSUMER, GATEWAY -> {
          if (variable.startsWith(EnvKeys.variable(ConsumerSettings.KAFKA_PREFIX))) {
            yield Optional.empty(); // lorastream.kafka.<setting>: Kafka client settings
          }
          if (!variable.startsWith("LORASTREAM_")) {
            yield Optional.of(variable + " is not read by the " + name().toLowerCase(Locale.ROOT));
          }
          yield known(variable, this == CONSUMER ? consumerVariables() : gatewayVariables());
        }
      };
    }

    private Optional<String> known(String variable, Set<String> known) {
      return known.contains(variable)
          ? Optional.empty()
          : Optional.of(
              variable + " is no key of the " + name().toLowerCase(Locale.ROOT) + ": " + known);
    }

    static Service ofCommand(String subcommand) {
      return valueOf(subcommand.toUpperCase(Locale.ROOT));
    }
  }

  // ---------------------------------------------------------------- docker-compose.yml

  @Test
  void composeDefinesEveryServiceOfTheStack() throws IOException {
    assertEquals(
        Set.of(
            "kafka",
            "registry",
            "topics",
            "batcher",
            "consumer-gpu",
            "consumer-cpu",
            "gateway",
            "prometheus",
            "grafana"),
        composeServices().keySet());
  }

  @Test
  void composeRunsEachLorastreamServiceFromTheOneImage() throws IOException {
    Map<String, Map<String, Object>> services = composeServices();
    Map<String, String> commands = new TreeMap<>();
    services.forEach(
        (name, s) -> {
          if ("lorastream:dev".equals(s.get("image"))) {
            assertEquals(".", s.get("build"), name + " builds the repository's Dockerfile");
            commands.put(name, String.join(" ", strings(s.get("command"))));
          }
        });
    assertEquals(
        Map.of(
            "batcher", "batcher",
            "consumer-gpu", "consumer",
            "consumer-cpu", "consumer",
            "gateway", "gateway"),
        commands);
    assertEquals(List.of("gpu"), services.get("consumer-gpu").get("profiles"));
    assertEquals(List.of("cpu"), services.get("consumer-cpu").get("profiles"));
    for (String s : List.of("gateway", "prometheus", "grafana")) {
      assertEquals(List.of("gpu", "cpu"), services.get(s).get("profiles"), s);
    }
    assertEquals(
        Map.of("LORASTREAM_BACKEND", "auto", "LORASTREAM_CONSUMER_ID", "gpu0"),
        pick(
            environment(services.get("consumer-gpu")),
            "LORASTREAM_BACKEND",
            "LORASTREAM_CONSUMER_ID"));
    assertEquals(
        Map.of("LORASTREAM_BACKEND", "cpu", "LORASTREAM_CONSUMER_ID", "cpu0"),
        pick(
            environment(services.get("consumer-cpu")),
            "LORASTREAM_BACKEND",
            "LORASTREAM_CONSUMER_ID"));
  }

  @Test
  void everyDependsOnNamesADefinedService() throws IOException {
    Map<String, Map<String, Object>> services = composeServices();
    int edges = 0;
    for (var e : services.entrySet()) {
      Object deps = e.getValue().get("depends_on");
      Iterable<?> names =
          deps instanceof Map<?, ?> m ? m.keySet() : deps instanceof List<?> l ? l : List.of();
      for (Object dep : names) {
        assertTrue(
            services.containsKey(dep.toString()),
            e.getKey() + " depends on " + dep + ", which is not a service");
        edges++;
      }
    }
    assertTrue(edges >= 7, "the lorastream services wait for topics and registry: " + edges);
    assertEquals(
        Map.of("condition", "service_completed_successfully"),
        map(map(services.get("gateway").get("depends_on")).get("topics")));
  }

  @Test
  void composeGivesLorastreamServicesOnlySettingsTheyRead() throws IOException {
    List<String> wrong = new ArrayList<>();
    int checked = 0;
    for (var e : composeServices().entrySet()) {
      List<String> command = strings(e.getValue().get("command"));
      if (!"lorastream:dev".equals(e.getValue().get("image"))) {
        continue;
      }
      Service service = Service.ofCommand(command.getFirst());
      for (String variable : environment(e.getValue()).keySet()) {
        service.refuse(variable).ifPresent(why -> wrong.add(e.getKey() + ": " + why));
        checked++;
      }
    }
    assertEquals(List.of(), wrong);
    assertTrue(checked >= 20, "variables checked: " + checked);
  }

  @Test
  void everyServiceUsesTheOneBrokerRegistryAndModel() throws IOException {
    Map<String, Map<String, Object>> services = composeServices();
    Map<String, String> batcher = environment(services.get("batcher"));
    assertEquals(BROKER, batcher.get("KAFKA_BOOTSTRAP_SERVERS"));
    assertEquals(REGISTRY_URL, batcher.get("SCHEMA_REGISTRY_URL"));
    for (String name : List.of("consumer-gpu", "consumer-cpu", "gateway")) {
      Map<String, String> env = environment(services.get(name));
      assertEquals(BROKER, env.get(EnvKeys.variable(ConsumerSettings.BOOTSTRAP)), name);
      assertEquals(REGISTRY_URL, env.get(EnvKeys.variable(ConsumerSettings.REGISTRY)), name);
      // the gateway tokenizes with the model the consumers serve
      assertEquals(
          "/models/base", defaults(env.get(EnvKeys.variable(ConsumerSettings.MODEL))), name);
      assertTrue(
          volumes(services.get(name)).contains("./volumes/models:/models:ro"),
          name + " mounts the models: " + volumes(services.get(name)));
    }
  }

  @Test
  void gatewayServesOnItsDefaultPortWithTheDemoKeyFile() throws IOException {
    Map<String, Object> gateway = composeServices().get("gateway");
    Map<String, String> env = environment(gateway);
    assertEquals(
        Integer.toString(GatewayConfig.DEFAULT_PORT),
        env.get(EnvKeys.variable(GatewayConfig.PORT)));
    assertEquals(List.of("8000:8000"), gateway.get("ports"));
    String keysFile = env.get(EnvKeys.variable(GatewayConfig.KEYS_FILE));
    assertEquals("/etc/lorastream/gateway-keys.properties", keysFile);
    assertTrue(
        volumes(gateway).contains("./deploy/gateway-keys.demo.properties:" + keysFile + ":ro"),
        volumes(gateway).toString());
    assertEquals("/data", env.get(EnvKeys.variable(GatewayConfig.DATA_DIR)));
    assertTrue(volumes(gateway).contains("gateway-data:/data"), volumes(gateway).toString());

    TenantKeys keys = TenantKeys.load(HOME.resolve("deploy/gateway-keys.demo.properties"));
    assertEquals(1, keys.size());
    assertEquals(Optional.of("demo"), keys.tenantOf(DEMO_KEY));
    assertTrue(
        Files.readString(HOME.resolve("docs/deploy.md")).contains(DEMO_KEY),
        "docs/deploy.md publishes the demo key");
  }

  @Test
  void prometheusScrapesTheMetricsOfEachBatcherConsumerAndGateway() throws IOException {
    Map<String, Map<String, Object>> services = composeServices();
    Map<String, Object> prometheus = load(HOME.resolve("deploy/prometheus.yml"));
    Set<String> targets = new TreeSet<>();
    for (Object job : list(prometheus.get("scrape_configs"))) {
      for (Object config : list(map(job).get("static_configs"))) {
        targets.addAll(strings(map(config).get("targets")));
      }
    }
    Set<String> expected = new TreeSet<>();
    services.forEach(
        (name, s) -> metricsPort(s).ifPresent(port -> expected.add(name + ":" + port)));
    assertEquals(
        Set.of("batcher:9401", "consumer-gpu:9402", "consumer-cpu:9402", "gateway:8000"), expected);
    assertEquals(expected, targets);
    assertEquals(
        List.of("./deploy/prometheus.yml:/etc/prometheus/prometheus.yml:ro"),
        volumes(services.get("prometheus")));
    assertEquals(List.of("9090:9090"), services.get("prometheus").get("ports"));
  }

  @Test
  void grafanaProvisionsPrometheusAndLoadsTheDashboardsFolder() throws IOException {
    Map<String, Object> grafana = composeServices().get("grafana");
    assertEquals(List.of("3000:3000"), grafana.get("ports"));
    assertTrue(
        volumes(grafana).contains("./deploy/grafana/provisioning:/etc/grafana/provisioning:ro"));
    assertTrue(
        volumes(grafana).contains("./deploy/grafana/dashboards:/var/lib/grafana/dashboards:ro"));
    Path provisioning = HOME.resolve("deploy/grafana/provisioning");
    Map<String, Object> source =
        map(
            list(load(provisioning.resolve("datasources/prometheus.yml")).get("datasources"))
                .getFirst());
    assertEquals("prometheus", source.get("type"));
    assertEquals("http://prometheus:9090", source.get("url"));
    Map<String, Object> provider =
        map(
            list(load(provisioning.resolve("dashboards/lorastream.yml")).get("providers"))
                .getFirst());
    assertEquals("file", provider.get("type"));
    assertEquals("/var/lib/grafana/dashboards", map(provider.get("options")).get("path"));
    assertTrue(Files.isDirectory(HOME.resolve("deploy/grafana/dashboards")));
  }

  @Test
  void topicsJobCreatesEveryTopicWithItsCleanupPolicy() throws IOException {
    String script = String.join("\n", strings(composeServices().get("topics").get("command")));
    assertCreatesEveryTopic(script);
  }

  // ---------------------------------------------------------------- Helm chart

  @Test
  void chartIsAnApplicationChartNamedLorastream() throws IOException {
    Map<String, Object> chart = load(CHART.resolve("Chart.yaml"));
    assertEquals("v2", chart.get("apiVersion"));
    assertEquals("lorastream", chart.get("name"));
    assertEquals("application", chart.get("type"));
    assertEquals("0.1.0", chart.get("version"));
    assertNotNull(chart.get("appVersion"));
  }

  @Test
  void templatesDeclareTheExpectedObjects() throws IOException {
    Map<String, List<String>> kinds = new TreeMap<>();
    for (Path t : templates()) {
      kinds.put(
          t.getFileName().toString(),
          documents(t).stream()
              .map(d -> d.get("kind") + " " + map(d.get("metadata")).get("name"))
              .toList());
    }
    // names without their release prefix ({{ include "lorastream.fullname" . }} removed)
    assertEquals(
        Map.of(
            "batcher.yaml", List.of("Deployment -batcher"),
            "configmap.yaml", List.of("ConfigMap -config", "ConfigMap -batcher"),
            "consumer-cpu.yaml", List.of("Deployment -consumer-cpu"),
            "consumer-gpu.yaml", List.of("Deployment -consumer-gpu"),
            "gateway.yaml", List.of("Deployment -gateway", "Service -gateway"),
            "scaledobject.yaml", List.of("ScaledObject -consumer-"),
            "secret-tenant-keys.yaml", List.of("Secret -tenant-keys"),
            "topics-job.yaml", List.of("Job -topics")),
        kinds);
  }

  @Test
  void gpuConsumerRequestsOneGpuAndCpuConsumerNone() throws IOException {
    Map<String, Object> gpu =
        container(documents(CHART.resolve("templates/consumer-gpu.yaml")).getFirst());
    Map<String, Object> resources = map(gpu.get("resources"));
    assertEquals(1, map(resources.get("requests")).get("nvidia.com/gpu"));
    assertEquals(1, map(resources.get("limits")).get("nvidia.com/gpu"));
    assertEquals(List.of("consumer"), gpu.get("args"));
    Map<String, Object> cpu =
        container(documents(CHART.resolve("templates/consumer-cpu.yaml")).getFirst());
    assertEquals(List.of("consumer"), cpu.get("args"));
    assertFalse(
        Files.readString(CHART.resolve("templates/consumer-cpu.yaml")).contains("nvidia.com/gpu"));

    // the variants are chosen by values: GPU on, CPU off by default
    assertTrue(raw("consumer-gpu.yaml").contains("{{- if .Values.consumer.gpu.enabled }}"));
    assertTrue(raw("consumer-cpu.yaml").contains("{{- if .Values.consumer.cpu.enabled }}"));
    Map<String, Object> consumer = map(load(CHART.resolve("values.yaml")).get("consumer"));
    assertEquals(true, map(consumer.get("gpu")).get("enabled"));
    assertEquals(false, map(consumer.get("cpu")).get("enabled"));
    assertFalse(
        map(map(consumer.get("gpu")).get("resources")).toString().contains("nvidia.com/gpu"),
        "the template requests the GPU; values must not add a second nvidia.com/gpu key");
  }

  @Test
  void everyValuesReferenceExistsInValuesYaml() throws IOException {
    Map<String, Object> values = load(CHART.resolve("values.yaml"));
    Set<String> refs = new TreeSet<>();
    try (Stream<Path> files = Files.list(CHART.resolve("templates"))) {
      for (Path f : files.toList()) {
        Matcher m = VALUES_REF.matcher(Files.readString(f));
        while (m.find()) {
          refs.add(m.group(1).substring(1));
        }
      }
    }
    List<String> missing = refs.stream().filter(r -> !hasPath(values, r)).toList();
    assertEquals(List.of(), missing);
    assertTrue(refs.contains("consumer.gpu.enabled") && refs.size() > 40, refs.toString());
  }

  @Test
  void chartGivesEachServiceOnlySettingsItReads() throws IOException {
    Map<String, Map<String, Object>> configMaps = new LinkedHashMap<>();
    for (Map<String, Object> d : documents(CHART.resolve("templates/configmap.yaml"))) {
      configMaps.put((String) map(d.get("metadata")).get("name"), map(d.get("data")));
    }
    Map<String, Service> deployments =
        Map.of(
            "batcher.yaml", Service.BATCHER,
            "consumer-gpu.yaml", Service.CONSUMER,
            "consumer-cpu.yaml", Service.CONSUMER,
            "gateway.yaml", Service.GATEWAY);
    List<String> wrong = new ArrayList<>();
    Set<String> checked = new HashSet<>();
    for (var e : deployments.entrySet()) {
      Map<String, Object> c =
          container(documents(CHART.resolve("templates/" + e.getKey())).getFirst());
      assertEquals(
          List.of(e.getValue().name().toLowerCase(Locale.ROOT)), c.get("args"), e.getKey());
      List<String> variables = new ArrayList<>();
      for (Object v : list(c.get("env"))) {
        Object name = map(v).get("name");
        if (name != null) { // null: a name from values, checked below
          variables.add(name.toString());
        }
      }
      for (Object from : list(c.get("envFrom"))) {
        String cm = (String) map(map(from).get("configMapRef")).get("name");
        assertTrue(configMaps.containsKey(cm), e.getKey() + " reads ConfigMap " + cm);
        variables.addAll(configMaps.get(cm).keySet());
      }
      for (String v : variables) {
        e.getValue().refuse(v).ifPresent(why -> wrong.add(e.getKey() + ": " + why));
        checked.add(v);
      }
    }
    Map<String, Object> values = load(CHART.resolve("values.yaml"));
    Map<String, Service> extra =
        Map.of(
            "batcher", Service.BATCHER, "consumer", Service.CONSUMER, "gateway", Service.GATEWAY);
    extra.forEach(
        (component, service) -> {
          for (Object v : map(map(values.get(component)).get("env")).keySet()) {
            service
                .refuse(v.toString())
                .ifPresent(why -> wrong.add("values " + component + ".env: " + why));
          }
        });
    assertEquals(List.of(), wrong);
    assertTrue(
        checked.containsAll(
            List.of(
                "LORASTREAM_BACKEND",
                "LORASTREAM_CONSUMER_ID",
                "LORASTREAM_GATEWAY_KEYS_FILE",
                "BATCHER_METRICS_PORT",
                "KAFKA_BOOTSTRAP_SERVERS")),
        checked.toString());
  }

  @Test
  void gatewayReadsItsKeyFileFromTheTenantKeysSecret() throws IOException {
    List<Map<String, Object>> gateway = documents(CHART.resolve("templates/gateway.yaml"));
    Map<String, Object> c = container(gateway.getFirst());
    Map<String, String> env = new TreeMap<>();
    for (Object v : list(c.get("env"))) {
      if (map(v).get("value") instanceof String value) {
        env.put((String) map(v).get("name"), value);
      }
    }
    assertEquals(
        "/etc/lorastream/keys/gateway-keys.properties",
        env.get(EnvKeys.variable(GatewayConfig.KEYS_FILE)));
    assertTrue(
        list(c.get("volumeMounts"))
            .contains(
                Map.of(
                    "name", "tenant-keys", "mountPath", "/etc/lorastream/keys", "readOnly", true)));
    Map<String, Object> spec =
        map(map(map(gateway.getFirst().get("spec")).get("template")).get("spec"));
    assertTrue(
        list(spec.get("volumes")).stream()
            .anyMatch(
                v -> "tenant-keys".equals(map(v).get("name")) && map(v).containsKey("secret")));
    Map<String, Object> secret =
        documents(CHART.resolve("templates/secret-tenant-keys.yaml")).getFirst();
    assertEquals(Set.of("gateway-keys.properties"), map(secret.get("stringData")).keySet());
    assertTrue(raw("secret-tenant-keys.yaml").contains("{{ $tenant }}={{ $digests }}"));

    Map<String, Object> service = gateway.get(1);
    assertEquals(
        List.of(Map.of("name", "http", "targetPort", "http")),
        list(map(service.get("spec")).get("ports")).stream()
            .map(p -> pick(map(p), "name", "targetPort"))
            .toList());
  }

  @Test
  void livenessAsksLiveAndTheOtherProbesAskReadyOnANamedContainerPort() throws IOException {
    int probes = 0;
    for (String file :
        List.of("batcher.yaml", "consumer-gpu.yaml", "consumer-cpu.yaml", "gateway.yaml")) {
      Map<String, Object> c = container(documents(CHART.resolve("templates/" + file)).getFirst());
      Set<Object> ports =
          list(c.get("ports")).stream().map(p -> map(p).get("name")).collect(Collectors.toSet());
      for (String probe : List.of("startupProbe", "readinessProbe", "livenessProbe")) {
        Map<String, Object> get = map(map(c.get(probe)).get("httpGet"));
        assertEquals(
            probe.equals("livenessProbe") ? "/live" : "/ready",
            get.get("path"),
            file + " " + probe);
        assertTrue(
            ports.contains(get.get("port")), file + " " + probe + " port " + get.get("port"));
        probes++;
      }
    }
    assertEquals(12, probes);
  }

  @Test
  void chartTopicsJobCreatesEveryTopicWithItsCleanupPolicy() throws IOException {
    Map<String, Object> job = documents(CHART.resolve("templates/topics-job.yaml")).getFirst();
    Map<String, Object> c = container(job);
    assertCreatesEveryTopic(String.join("\n", strings(c.get("args"))));
  }

  @Test
  void kedaScalesAConsumerDeploymentOnTheLagOfLoraBatches() throws IOException {
    Map<String, Object> scaled = documents(CHART.resolve("templates/scaledobject.yaml")).getFirst();
    Map<String, Object> trigger = map(list(map(scaled.get("spec")).get("triggers")).getFirst());
    assertEquals("kafka", trigger.get("type"));
    Map<String, Object> meta = map(trigger.get("metadata"));
    assertEquals(Topics.BATCHES.name(), meta.get("topic"));
    assertEquals("false", meta.get("allowIdleConsumers"));
    assertEquals(
        Map.of("apiVersion", "apps/v1", "kind", "Deployment", "name", "-consumer-"),
        map(map(scaled.get("spec")).get("scaleTargetRef")));
    Map<String, Object> values = load(CHART.resolve("values.yaml"));
    assertEquals("lora-consumers", map(values.get("consumer")).get("group"));
    assertEquals("gpu", map(values.get("keda")).get("variant"));
  }

  // ---------------------------------------------------------------- helpers

  private static void assertCreatesEveryTopic(String script) {
    Map<String, Boolean> created = new TreeMap<>(); // topic -> compacted
    for (String line : script.split("\n")) {
      Matcher m = TOPIC_ARG.matcher(line);
      if (m.find()) {
        created.put(m.group(1), line.contains("cleanup.policy=compact"));
      }
    }
    Map<String, Boolean> expected = new TreeMap<>();
    for (Topic<?, ?> t : Topics.all()) {
      expected.put(t.name(), t.compacted());
    }
    assertEquals(expected, created);
  }

  private static Map<String, Map<String, Object>> composeServices() throws IOException {
    Map<String, Map<String, Object>> services = new TreeMap<>();
    map(load(COMPOSE).get("services")).forEach((k, v) -> services.put(k, map(v)));
    return services;
  }

  /** A service's environment (map or {@code NAME=value} list form), values as strings. */
  private static Map<String, String> environment(Map<String, Object> service) {
    Map<String, String> env = new TreeMap<>();
    Object e = service.get("environment");
    if (e instanceof Map<?, ?> m) {
      m.forEach((k, v) -> env.put(k.toString(), v == null ? "" : v.toString()));
    } else if (e instanceof List<?> l) {
      for (Object entry : l) {
        String[] kv = entry.toString().split("=", 2);
        env.put(kv[0], kv.length > 1 ? kv[1] : "");
      }
    }
    return env;
  }

  /** The port of a lorastream service's /metrics endpoint (the gateway's is its HTTP port). */
  private static Optional<Integer> metricsPort(Map<String, Object> service) {
    if (!"lorastream:dev".equals(service.get("image"))) {
      return Optional.empty();
    }
    String key =
        switch (Service.ofCommand(strings(service.get("command")).getFirst())) {
          case BATCHER -> EnvKeys.variable(BatcherConfig.METRICS_PORT);
          case CONSUMER -> EnvKeys.variable(ConsumerSettings.METRICS_PORT);
          case GATEWAY -> EnvKeys.variable(GatewayConfig.PORT);
        };
    String port = environment(service).get(key);
    return Optional.of(
        port != null
            ? Integer.parseInt(port)
            : key.equals(EnvKeys.variable(GatewayConfig.PORT))
                ? GatewayConfig.DEFAULT_PORT
                : MetricsServer.DEFAULT_PORT);
  }

  private static List<String> volumes(Map<String, Object> service) {
    return strings(service.get("volumes")).stream().map(DeployFilesTest::defaults).toList();
  }

  /** {@code s} with each {@code ${NAME:-default}} replaced by its default. */
  private static String defaults(String s) {
    return s == null
        ? null
        : DEFAULTED.matcher(s).replaceAll(m -> Matcher.quoteReplacement(m.group(1)));
  }

  private static Set<String> consumerVariables() {
    return Stream.concat(ConsumerSettings.KEYS.stream(), ConsumerSettings.ENGINE_KEYS.stream())
        .map(EnvKeys::variable)
        .collect(Collectors.toCollection(TreeSet::new));
  }

  /** The gateway's keys: its {@code public static final String} constants that name a key. */
  private static Set<String> gatewayVariables() {
    Set<String> vars = new TreeSet<>();
    for (Field f : GatewayConfig.class.getFields()) {
      int mod = f.getModifiers();
      if (Modifier.isStatic(mod) && Modifier.isFinal(mod) && f.getType() == String.class) {
        try {
          String key = (String) f.get(null);
          if (key.startsWith("lorastream.") && !key.endsWith(".")) {
            vars.add(EnvKeys.variable(key));
          }
        } catch (IllegalAccessException e) {
          throw new AssertionError(e);
        }
      }
    }
    return vars;
  }

  private static Set<String> batcherVariables() {
    return BatcherConfig.DEFAULTS.keySet().stream()
        .map(EnvKeys::variable)
        .collect(Collectors.toCollection(TreeSet::new));
  }

  private static List<Path> templates() throws IOException {
    try (Stream<Path> files = Files.list(CHART.resolve("templates"))) {
      return files.filter(f -> f.toString().endsWith(".yaml")).sorted().toList();
    }
  }

  private static String raw(String template) throws IOException {
    return Files.readString(CHART.resolve("templates").resolve(template));
  }

  /** A template's YAML documents, its Go-template actions removed; comment-only ones dropped. */
  private static List<Map<String, Object>> documents(Path template) throws IOException {
    String text = ACTION.matcher(Files.readString(template)).replaceAll("");
    List<Map<String, Object>> docs = new ArrayList<>();
    for (Object d : yaml().loadAll(text)) {
      if (d != null) {
        docs.add(map(d));
      }
    }
    return docs;
  }

  /** The one container of a Deployment's or Job's pod template. */
  private static Map<String, Object> container(Map<String, Object> workload) {
    Map<String, Object> pod = map(map(map(workload.get("spec")).get("template")).get("spec"));
    List<Object> containers = list(pod.get("containers"));
    assertEquals(1, containers.size());
    return map(containers.getFirst());
  }

  private static boolean hasPath(Map<String, Object> values, String dotted) {
    Object node = values;
    for (String part : dotted.split("\\.")) {
      if (!(node instanceof Map<?, ?> m) || !m.containsKey(part)) {
        return false;
      }
      node = m.get(part);
    }
    return true;
  }

  private static Map<String, Object> load(Path file) throws IOException {
    return map(yaml().load(Files.readString(file)));
  }

  /** SnakeYAML's safe loader, which resolves anchors, aliases and {@code <<} merge keys. */
  private static Yaml yaml() {
    return new Yaml(new SafeConstructor(new LoaderOptions()));
  }

  private static Map<String, Object> pick(Map<String, ?> m, String... keys) {
    Map<String, Object> out = new TreeMap<>();
    for (String k : keys) {
      out.put(k, m.get(k));
    }
    return out;
  }

  @SuppressWarnings("unchecked")
  private static Map<String, Object> map(Object o) {
    return o == null ? Map.of() : (Map<String, Object>) o;
  }

  @SuppressWarnings("unchecked")
  private static List<Object> list(Object o) {
    return o == null ? List.of() : (List<Object>) o;
  }

  private static List<String> strings(Object o) {
    if (o instanceof String s) {
      return List.of(s);
    }
    return list(o).stream().map(Object::toString).toList();
  }
}
