package dev.lorastream.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lorastream.devstack.RegistryProcess;
import dev.lorastream.ingest.PromptTokenizer;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.SamplingParams;
import dev.lorastream.schemas.Topic;
import dev.lorastream.schemas.Topics;
import dev.lorastream.schemas.registry.RestSchemaRegistryClient;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.avro.specific.SpecificData;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code lorastream demo --serve} as a separate process (the launcher's own main class, this
 * module's classpath): a short demo, then the stack on free ports with the real Apicurio registry,
 * talked to by a plain Kafka client, by the Python example when Debian's packages are there, and
 * stopped with SIGTERM. Skipped, with the reason, when the registry runner jar has not been built.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class DemoServeTest {
  private static final Pattern SERVING =
      Pattern.compile(
          "^serving: bootstrap=(\\S+:\\d+) registry=(http://\\S+) gateway=(http://\\S+)$");
  private static final Pattern KEY = Pattern.compile("^key ([a-z]+)=(\\S+)$");
  private static final String PYTHON = "/usr/bin/python3";
  private static final Path HOME =
      Path.of("").toAbsolutePath().getParent(); // surefire runs in launcher/
  private static final Path JAR = RegistryProcess.DEFAULT_JAR.toAbsolutePath().normalize();

  @TempDir static Path tmp;
  private Process demo;
  private final List<String> out = new CopyOnWriteArrayList<>();
  private String bootstrap;
  private String registry;
  private String gateway;
  private Path errFile;

  @BeforeAll
  void startServing() throws Exception {
    if (!RegistryProcess.available(JAR)) {
      return; // each test skips, naming the jar
    }
    String java = ProcessHandle.current().info().command().orElse("java");
    errFile = tmp.resolve("demo.err");
    demo =
        new ProcessBuilder(
                java,
                "--add-modules",
                "jdk.incubator.vector",
                "--enable-native-access=ALL-UNNAMED",
                "-Xmx2g",
                "-Dlorastream.home=" + HOME,
                "-Dlorastream.registry.jar=" + JAR,
                "-cp",
                System.getProperty("java.class.path"),
                Main.class.getName(),
                "demo",
                "--serve",
                "--port",
                "0",
                "--registry-port",
                "0",
                "--gateway-port",
                "0",
                "--requests",
                "5",
                "--adapters",
                "2",
                "--max-tokens",
                "8",
                "--work",
                tmp.resolve("work").toString())
            .redirectError(
                errFile.toFile()) // a file: a pipe's last lines can be lost when the process exits
            .start();
    CompletableFuture<Matcher> serving = new CompletableFuture<>();
    drain(demo.getInputStream(), out, serving);
    try {
      Matcher m = serving.get(120, TimeUnit.SECONDS);
      bootstrap = m.group(1);
      registry = m.group(2);
      gateway = m.group(3);
    } catch (Exception e) {
      stopDemo();
      throw new AssertionError(
          "no serving line: "
              + e
              + "\nstdout:\n"
              + String.join("\n", out)
              + "\nstderr:\n"
              + Files.readString(errFile),
          e);
    }
  }

  @AfterAll
  void stopDemo() {
    if (demo != null && demo.isAlive()) {
      demo.descendants().forEach(ProcessHandle::destroyForcibly);
      demo.destroyForcibly();
    }
  }

  private void assumeServing() {
    Assumptions.assumeTrue(
        demo != null,
        "no Apicurio runner at "
            + JAR
            + ": build it with ./mvnw -f registry/pom.xml"
            + " package -DskipTests");
    assertTrue(demo.isAlive(), "the demo process is serving");
  }

  @Test
  @Order(1)
  @Timeout(60)
  void aPlainKafkaClientGetsItsReplyWithSchemasFromTheRealRegistry() throws Exception {
    assumeServing();
    assertEquals(
        1, out.stream().filter(l -> l.startsWith("serving:")).count(), "exactly one serving line");
    assertTrue(
        out.stream()
            .anyMatch(l -> l.startsWith("demo: 5 requests, 5 replies, 0 unexpected errors")),
        String.join("\n", out));
    try (RestSchemaRegistryClient client = new RestSchemaRegistryClient(List.of(registry))) {
      for (Topic<?, ?> t : Topics.all()) {
        if (SpecificRecord.class.isAssignableFrom(t.valueType())) {
          assertEquals(
              SpecificData.get().getSchema(t.valueType()),
              client.getLatest(t.valueSubject()).schema(),
              t.valueSubject());
        }
      }
    }
    // Only look schemas up, as an ordinary client of a managed registry would: they are registered
    // already.
    Map<String, Object> serde =
        Map.of("schema.registry.url", registry, "auto.register.schemas", false);
    String id = "java-" + UUID.randomUUID();
    InferenceRequest request;
    try (PromptTokenizer tok = PromptTokenizer.load(HOME.resolve("models/lorastream-demo"))) {
      request =
          InferenceRequest.newBuilder()
              .setRequestId(id)
              .setTenantId("acme")
              .setAdapterId("legal")
              .setPrompt("The ")
              .setPromptTokenIds(tok.encode("The "))
              .setSampling(SamplingParams.newBuilder().setMaxTokens(6).setTemperature(0f).build())
              .setCreatedEpochMs(System.currentTimeMillis())
              .build();
    }
    try (KafkaConsumer<String, InferenceResult> replies =
            new KafkaConsumer<>(
                Map.of(
                    "bootstrap.servers",
                    bootstrap,
                    "group.id",
                    "serve-test-" + id,
                    "auto.offset.reset",
                    "earliest",
                    "isolation.level",
                    "read_committed"),
                new StringDeserializer(),
                Topics.REPLIES.valueSerde(serde).deserializer());
        KafkaProducer<String, InferenceRequest> producer =
            new KafkaProducer<>(
                Map.of("bootstrap.servers", bootstrap),
                new StringSerializer(),
                Topics.REQUESTS.valueSerde(serde).serializer())) {
      replies.subscribe(Set.of(Topics.REPLIES.name()));
      producer
          .send(new ProducerRecord<>(Topics.REQUESTS.name(), id, request))
          .get(30, TimeUnit.SECONDS);
      InferenceResult reply = null;
      long end = System.currentTimeMillis() + 45_000;
      while (reply == null && System.currentTimeMillis() < end) {
        for (ConsumerRecord<String, InferenceResult> r : replies.poll(Duration.ofMillis(200))) {
          if (id.equals(r.key())) {
            reply = r.value();
          }
        }
      }
      assertNotNull(reply, "a reply to " + id + " on " + Topics.REPLIES.name());
      assertNull(reply.getErrorCode(), String.valueOf(reply.getErrorMessage()));
      assertEquals("legal", reply.getAdapterId());
      assertEquals("demo-consumer", reply.getServedBy());
      assertFalse(reply.getTokenIds().isEmpty(), "generated tokens");
      assertTrue(reply.getTokenIds().size() <= 6);
    }
  }

  @Test
  @Order(2)
  @Timeout(60)
  void theGatewayAnswersACompletionWithAPrintedKeyAndListsThatTenantsModels() throws Exception {
    assumeServing();
    Map<String, String> keys = new HashMap<>();
    for (String line : out) {
      Matcher m = KEY.matcher(line);
      if (m.matches()) {
        keys.put(m.group(1), m.group(2));
      }
    }
    assertEquals(Set.of("acme", "globex", "initech"), keys.keySet(), String.join("\n", out));
    HttpClient http = HttpClient.newHttpClient();
    HttpResponse<String> r =
        http.send(
            HttpRequest.newBuilder(URI.create(gateway + "/v1/completions"))
                .header("Authorization", "Bearer " + keys.get("acme"))
                .header("Content-Type", "application/json")
                .POST(
                    HttpRequest.BodyPublishers.ofString(
                        "{\"model\":\"legal\",\"prompt\":\"The \",\"max_tokens\":6,"
                            + "\"temperature\":0}"))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    assertEquals(200, r.statusCode(), r.body());
    JsonNode body = new ObjectMapper().readTree(r.body());
    assertEquals("text_completion", body.get("object").asText());
    assertEquals(6, body.get("usage").get("completion_tokens").asInt(), r.body());
    HttpResponse<String> models =
        http.send(
            HttpRequest.newBuilder(URI.create(gateway + "/v1/models"))
                .header("Authorization", "Bearer " + keys.get("globex"))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    assertEquals(200, models.statusCode(), models.body());
    assertTrue(models.body().contains("\"python\""), models.body());
    assertFalse(models.body().contains("\"legal\""), models.body());
  }

  @Test
  @Order(2)
  @Timeout(60)
  void eachServicesMetricsAndHealthAnswerAtThePrintedUrls() throws Exception {
    assumeServing();
    Matcher m =
        out.stream()
            .map(
                Pattern.compile(
                        "^metrics: batcher=(http://\\S+) consumer=(http://\\S+)"
                            + " gateway=(http://\\S+)$")
                    ::matcher)
            .filter(Matcher::matches)
            .findFirst()
            .orElseThrow(() -> new AssertionError("no metrics line:\n" + String.join("\n", out)));
    HttpClient http = HttpClient.newHttpClient();
    String[][] services = {
      {m.group(1), "lorastream_batcher_"},
      {m.group(2), "lorastream_consumer_"},
      {m.group(3), "lorastream_gateway_"}
    };
    for (String[] svc : services) {
      HttpResponse<String> metrics =
          http.send(
              HttpRequest.newBuilder(URI.create(svc[0])).build(),
              HttpResponse.BodyHandlers.ofString());
      assertEquals(200, metrics.statusCode(), svc[0]);
      assertTrue(metrics.body().contains(svc[1]), svc[0] + ":\n" + metrics.body());
      HttpResponse<String> health =
          http.send(
              HttpRequest.newBuilder(URI.create(svc[0].replace("/metrics", "/health"))).build(),
              HttpResponse.BodyHandlers.ofString());
      assertEquals(200, health.statusCode(), svc[0] + " " + health.body());
    }
  }

  @Test
  @Order(3)
  @Timeout(60)
  void thePythonExampleGetsAReplyToEveryRequest() throws Exception {
    assumeServing();
    Assumptions.assumeTrue(Files.isExecutable(Path.of(PYTHON)), "no " + PYTHON);
    Process check =
        new ProcessBuilder(PYTHON, "-c", "import confluent_kafka, avro")
            .redirectErrorStream(true)
            .start();
    String why = new String(check.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    Assumptions.assumeTrue(
        check.waitFor(30, TimeUnit.SECONDS) && check.exitValue() == 0,
        "Debian's python3-confluent-kafka and python3-avro are not importable by "
            + PYTHON
            + " (apt-get install -y python3-confluent-kafka python3-avro): "
            + why.strip());
    Path pyOut = tmp.resolve("python.out");
    Process py =
        new ProcessBuilder(
                PYTHON,
                HOME.resolve("examples/python/lorastream_client.py").toString(),
                "--bootstrap",
                bootstrap,
                "--registry",
                registry,
                "--requests",
                "3",
                "--max-tokens",
                "8",
                "--timeout",
                "40")
            .redirectErrorStream(true)
            .redirectOutput(pyOut.toFile())
            .start();
    boolean exited = py.waitFor(50, TimeUnit.SECONDS);
    if (!exited) {
      py.destroyForcibly();
      py.waitFor(10, TimeUnit.SECONDS);
    }
    String output = Files.readString(pyOut);
    assertTrue(exited, "the Python client ended:\n" + output);
    assertEquals(0, py.exitValue(), output);
    // 3 catalog adapters, the base model, the adapter it registered
    assertTrue(output.contains("python client: 5 requests, 5 replies, 0 failed"), output);
    assertTrue(output.contains("registered adapter py-legal"), output);
  }

  @Test
  @Order(4)
  @Timeout(60)
  void sigtermStopsTheStackAndTheRegistryProcess() throws Exception {
    assumeServing();
    List<ProcessHandle> children = demo.descendants().toList();
    assertFalse(children.isEmpty(), "the registry runs as a child process");
    demo.destroy(); // SIGTERM
    assertTrue(demo.waitFor(45, TimeUnit.SECONDS), "the demo ended after SIGTERM");
    for (ProcessHandle child : children) {
      child.onExit().get(10, TimeUnit.SECONDS);
      assertFalse(child.isAlive(), "child process " + child.pid() + " still runs");
    }
    String err = Files.readString(errFile);
    assertTrue(err.contains("demo: stopping"), err);
  }

  /**
   * Collects the stream's lines on a virtual thread; completes {@code serving} with the serving
   * line's match.
   */
  private static void drain(
      InputStream in, List<String> lines, CompletableFuture<Matcher> serving) {
    Thread.ofVirtual()
        .start(
            () -> {
              try (BufferedReader r =
                  new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
                for (String line; (line = r.readLine()) != null; ) {
                  lines.add(line);
                  Matcher m = SERVING.matcher(line);
                  if (serving != null && m.matches()) {
                    serving.complete(m);
                  }
                }
              } catch (IOException e) {
                // the process ended
              }
              if (serving != null) {
                serving.completeExceptionally(
                    new IllegalStateException("the demo ended without serving"));
              }
            });
  }
}
