package dev.lorastream.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.batcher.BatcherApp;
import dev.lorastream.batcher.BatcherConfig;
import dev.lorastream.batcher.TenantTopics;
import dev.lorastream.consumer.ConsumerSettings;
import dev.lorastream.consumer.InferenceConsumer;
import dev.lorastream.devstack.TestKafkaCluster;
import dev.lorastream.engine.sched.EngineConfig;
import dev.lorastream.gateway.Gateway;
import dev.lorastream.gateway.GatewayConfig;
import dev.lorastream.gateway.TenantKeys;
import dev.lorastream.ingest.LoraClient;
import dev.lorastream.ingest.LoraClientConfig;
import dev.lorastream.ingest.PromptTokenizer;
import dev.lorastream.ingest.StreamEvent;
import dev.lorastream.schemas.CancelRequest;
import dev.lorastream.schemas.ErrorCode;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.SamplingParams;
import dev.lorastream.schemas.Tenants;
import dev.lorastream.schemas.Topic;
import dev.lorastream.schemas.Topics;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.StringWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Flow;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Topics tenancy through the whole pipeline on a SASL/PLAIN broker with the StandardAuthorizer,
 * every service under its own principal with only the ACLs of {@code tenant services} and {@code
 * tenant add}: the batcher as {@code batcher}, the inference consumer as {@code consumer} (logged
 * in through {@code lorastream.kafka.*}), adapters registered by {@code catalog}, and the clients
 * of tenants {@code acme} and {@code globex} ({@link LoraClientConfig#forTenant}) as themselves.
 */
class TenantPipelineTest {
  @TempDir Path tmp;

  @Test
  void eachTenantIsServedOnItsOwnTopicsAndCannotActAsAnother() throws Exception {
    DemoFixtures fx = DemoFixtures.prepare(tmp, tmp.resolve("work"), 6);
    String registry = "mock://tenant-pipeline-" + System.nanoTime();
    Map<String, Object> serde = Map.of("schema.registry.url", registry);
    try (TestKafkaCluster cluster = TestKafkaCluster.startSasl()) {
      try (Admin admin = cluster.admin()) {
        List<NewTopic> topics = new ArrayList<>();
        for (Topic<?, ?> t : Topics.all()) {
          if (t != Topics.REQUESTS) {
            topics.add(new NewTopic(t.name(), 1, (short) 1).configs(t.topicConfigs()));
          }
        }
        admin.createTopics(topics).all().get();
        for (String tenant : List.of("acme", "globex")) {
          TenantTopics.add(admin, tenant, 2, (short) 1);
        }
        TenantTopics.setAcls(
            admin,
            TenantTopics.serviceAcls(
                "User:batcher",
                "User:consumer",
                "User:catalog",
                "User:gateway",
                BatcherApp.DEFAULT_APPLICATION_ID,
                "lora-consumers"));
      }
      fx.publishAdapters(cluster.clientConfig("catalog"), serde);

      Properties bp = new Properties();
      cluster.clientConfig("batcher").forEach((k, v) -> bp.put(k, v.toString()));
      bp.put("schema.registry.url", registry);
      bp.put("state.dir", Files.createTempDirectory(tmp, "batcher").toString());
      bp.put(BatcherConfig.TENANCY, "topics");
      bp.put(BatcherConfig.METRICS_PORT, "-1");
      bp.put(BatcherConfig.MAX_WAIT_MS, "20");
      bp.put(BatcherConfig.MAX_PROMPT_TOKENS, "64");
      bp.put(BatcherConfig.MAX_NEW_TOKENS, "32");
      bp.put(BatcherConfig.MAX_BATCH_TOKENS, "1024");
      bp.put("commit.interval.ms", "50");
      Map<String, String> cs = new HashMap<>();
      cluster
          .clientConfig("consumer")
          .forEach((k, v) -> cs.put(ConsumerSettings.KAFKA_PREFIX + k, v.toString()));
      cs.putAll(
          Map.of(
              ConsumerSettings.REGISTRY,
              registry,
              ConsumerSettings.MODEL,
              fx.modelDir().toString(),
              ConsumerSettings.ADAPTER_ROOTS,
              fx.adapterRoots().get(fx.adapterRoots().size() - 1).toString(),
              ConsumerSettings.ID,
              "tenant-consumer",
              ConsumerSettings.METRICS_PORT,
              "-1",
              ConsumerSettings.TENANCY,
              "topics"));
      String acmeAdapter = ownedBy(fx, "acme");
      SimpleMeterRegistry meters = new SimpleMeterRegistry();
      try (BatcherApp batcher = BatcherApp.start(BatcherConfig.fromProperties(bp));
          InferenceConsumer consumer =
              new InferenceConsumer(ConsumerSettings.from(cs), EngineConfig.defaults(), meters);
          PromptTokenizer tok = PromptTokenizer.load(fx.modelDir());
          LoraClient acme = client(cluster, registry, "acme", tok);
          LoraClient globex = client(cluster, registry, "globex", tok)) {
        Thread serving = Thread.ofPlatform().start(() -> serve(consumer));
        assertTrue(batcher.awaitRunning(Duration.ofSeconds(60)), "batcher running");

        var own = acme.submit(req("acme", acmeAdapter, "The licence"));
        var base = globex.submit(req("globex", null, "Hello"));
        var forbidden = globex.submit(req("globex", acmeAdapter, "x"));
        var forged = acme.submit(req("globex", null, "as globex"));

        InferenceResult ok = own.get(120, TimeUnit.SECONDS);
        assertNull(ok.getErrorCode(), ok.getErrorMessage());
        assertEquals("tenant-consumer", ok.getServedBy());
        assertEquals("acme", ok.getTenantId());
        InferenceResult b = base.get(120, TimeUnit.SECONDS);
        assertNull(b.getErrorCode(), b.getErrorMessage());
        assertEquals(
            ErrorCode.ADAPTER_FORBIDDEN, forbidden.get(120, TimeUnit.SECONDS).getErrorCode());
        InferenceResult f = forged.get(120, TimeUnit.SECONDS);
        assertEquals(ErrorCode.INVALID_PARAMS, f.getErrorCode());
        assertTrue(
            f.getErrorMessage()
                .startsWith("tenantId 'globex' does not match topic lora.tenant.acme.requests"),
            f.getErrorMessage());

        // acme's chunks come on its own stream topic; globex's cancel claiming acme's request, on
        // globex's cancel topic (the only one it may write), is refused as forged
        var streamed = new CompletableFuture<List<StreamEvent>>();
        List<StreamEvent> events = new CopyOnWriteArrayList<>();
        acme.stream(req("acme", null, "Streamed").setRequestId("s-1"))
            .subscribe(
                new Flow.Subscriber<StreamEvent>() {
                  @Override
                  public void onSubscribe(Flow.Subscription sub) {
                    sub.request(Long.MAX_VALUE);
                  }

                  @Override
                  public void onNext(StreamEvent e) {
                    events.add(e);
                  }

                  @Override
                  public void onError(Throwable t) {
                    streamed.completeExceptionally(t);
                  }

                  @Override
                  public void onComplete() {
                    streamed.complete(List.copyOf(events));
                  }
                });
        List<StreamEvent> got = streamed.get(120, TimeUnit.SECONDS);
        InferenceResult sr = ((StreamEvent.Result) got.getLast()).result();
        assertNull(sr.getErrorCode(), sr.getErrorMessage());
        StringBuilder text = new StringBuilder();
        got.stream()
            .filter(e -> e instanceof StreamEvent.Chunk)
            .forEach(e -> text.append(((StreamEvent.Chunk) e).chunk().getText()));
        assertEquals(sr.getText(), text.toString());
        assertTrue(got.size() > 2, "chunks, then the result: " + got.size());
        try (KafkaProducer<String, CancelRequest> p =
            new KafkaProducer<>(
                cluster.clientConfig("globex"),
                new StringSerializer(),
                Topics.CANCEL.valueSerde(serde).serializer())) {
          p.send(
                  new ProducerRecord<>(
                      Tenants.cancelTopic("globex"),
                      "s-2",
                      CancelRequest.newBuilder().setTenantId("acme").setRequestId("s-2").build()))
              .get();
        }
        long deadline = System.currentTimeMillis() + 30_000;
        while (meters.counter("lorastream.consumer.cancels", "outcome", "forged").count() < 1
            && System.currentTimeMillis() < deadline) {
          Thread.sleep(20);
        }
        assertEquals(
            1.0, meters.counter("lorastream.consumer.cancels", "outcome", "forged").count());

        var after = acme.submit(req("acme", null, "still serving"));
        InferenceResult still = after.get(120, TimeUnit.SECONDS);
        assertNull(still.getErrorCode());

        // usage: acme, logged in as itself, reads its own counts (lora.tenant.acme.usage: it may
        // not read lora.usage); globex's are refused to it
        Path acmeLogin = tmp.resolve("acme.properties");
        Properties login = new Properties();
        cluster.clientConfig("acme").forEach((k, v) -> login.put(k, v.toString()));
        try (var w = Files.newBufferedWriter(acmeLogin)) {
          login.store(w, null);
        }
        String[] connect = {
          "--bootstrap-servers",
          cluster.bootstrapServers(),
          "--schema-registry-url",
          registry,
          "--command-config",
          acmeLogin.toString(),
          "--since",
          "2h",
          "--json"
        };
        StringWriter usageOut = new StringWriter();
        StringWriter usageErr = new StringWriter();
        int rc = usage(usageOut, usageErr, "acme", connect);
        assertEquals(0, rc, usageErr.toString());
        var total =
            new com.fasterxml.jackson.databind.ObjectMapper()
                .readTree(usageOut.toString().lines().toList().getLast());
        assertEquals("total", total.get("adapter").asText(), usageOut.toString());
        assertEquals(3, total.get("requests").asLong(), "own, s-1 and still: " + usageOut);
        assertEquals(
            ok.getUsage().getCompletionTokens()
                + sr.getUsage().getCompletionTokens()
                + still.getUsage().getCompletionTokens(),
            total.get("completion_tokens").asLong(),
            usageOut.toString());
        usageErr = new StringWriter();
        rc = usage(new StringWriter(), usageErr, "globex", connect);
        assertEquals(2, rc);
        assertTrue(usageErr.toString().startsWith("usage: refused:"), usageErr.toString());

        // the HTTP gateway as one trusted principal: each key's requests on its tenant's topics
        // (this broker has no lora.requests), another tenant's adapter still refused
        // configured as an operator would: keys file, lorastream.tenancy, the principal's login
        Map<String, String> keys = TenantKeys.randomKeys(List.of("acme", "globex"));
        Path keyFile = tmp.resolve("gateway-keys");
        StringBuilder lines = new StringBuilder();
        keys.forEach(
            (t, k) ->
                lines.append(t).append("=sha256:").append(TenantKeys.sha256Hex(k)).append('\n'));
        Files.writeString(keyFile, lines);
        Map<String, String> props = new HashMap<>();
        cluster
            .clientConfig("gateway")
            .forEach((k, v) -> props.put(GatewayConfig.KAFKA_PREFIX + k, v.toString()));
        props.put(GatewayConfig.REGISTRY, registry);
        props.put(GatewayConfig.MODEL, fx.modelDir().toString());
        props.put(GatewayConfig.KEYS_FILE, keyFile.toString());
        props.put(GatewayConfig.TENANCY, "topics");
        props.put(GatewayConfig.HOST, "127.0.0.1");
        props.put(GatewayConfig.PORT, "0");
        props.put(GatewayConfig.DATA_DIR, tmp.resolve("gateway").toString());
        GatewayConfig gc = GatewayConfig.from(props);
        try (Gateway gateway = Gateway.start(gc)) {
          HttpClient http = HttpClient.newHttpClient();
          InferenceResult same =
              acme.submit(req("acme", acmeAdapter, "The licence")).get(120, TimeUnit.SECONDS);
          HttpResponse<String> r =
              complete(http, gateway, keys.get("acme"), acmeAdapter, "The licence", false);
          assertEquals(200, r.statusCode(), r.body());
          assertTrue(r.body().contains(json(same.getText())), r.body() + " vs " + same.getText());
          r = complete(http, gateway, keys.get("globex"), "base", "Hello", false);
          assertEquals(200, r.statusCode(), r.body());
          r = complete(http, gateway, keys.get("globex"), acmeAdapter, "x", false);
          assertEquals(403, r.statusCode(), r.body());
          r = complete(http, gateway, keys.get("acme"), "base", "Streamed", true);
          assertEquals(200, r.statusCode(), r.body());
          assertTrue(r.body().endsWith("data: [DONE]\n\n"), r.body());
        }
        consumer.stop();
        serving.join(10_000);
      }
    }
  }

  private static HttpResponse<String> complete(
      HttpClient http, Gateway gateway, String key, String model, String prompt, boolean stream)
      throws Exception {
    return http.send(
        HttpRequest.newBuilder(URI.create(gateway.url() + "/v1/completions"))
            .header("Authorization", "Bearer " + key)
            .header("Content-Type", "application/json")
            .POST(
                HttpRequest.BodyPublishers.ofString(
                    "{\"model\":\""
                        + model
                        + "\",\"prompt\":"
                        + json(prompt)
                        + ",\"max_tokens\":6,\"temperature\":0,\"seed\":3,\"stream\":"
                        + stream
                        + "}"))
            .build(),
        HttpResponse.BodyHandlers.ofString());
  }

  private static String json(String text) throws Exception {
    return new com.fasterxml.jackson.databind.ObjectMapper().writeValueAsString(text);
  }

  private static LoraClient client(
      TestKafkaCluster cluster, String registry, String tenant, PromptTokenizer tok) {
    Map<String, Object> login = new HashMap<>(cluster.clientConfig(tenant));
    login.remove("bootstrap.servers");
    return new LoraClient(
        LoraClientConfig.of(cluster.bootstrapServers(), registry)
            .forTenant(tenant)
            .withKafkaOverrides(login)
            .withDefaultTimeout(Duration.ofSeconds(90)),
        tok,
        null);
  }

  private static String ownedBy(DemoFixtures fx, String tenant) {
    return fx.adapters().entrySet().stream()
        .filter(e -> tenant.equals(e.getValue()))
        .findFirst()
        .orElseThrow()
        .getKey();
  }

  private static InferenceRequest.Builder req(String tenant, String adapter, String prompt) {
    return InferenceRequest.newBuilder()
        .setTenantId(tenant)
        .setAdapterId(adapter)
        .setPrompt(prompt)
        .setSampling(
            SamplingParams.newBuilder().setMaxTokens(6).setTemperature(0f).setSeed(3).build());
  }

  private static int usage(StringWriter out, StringWriter err, String tenant, String... connect) {
    List<String> args = new ArrayList<>(List.of("--tenant", tenant));
    args.addAll(List.of(connect));
    return new picocli.CommandLine(new UsageCommand())
        .setOut(new java.io.PrintWriter(out, true))
        .setErr(new java.io.PrintWriter(err, true))
        .execute(args.toArray(String[]::new));
  }

  private static void serve(InferenceConsumer consumer) {
    try {
      consumer.run();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
