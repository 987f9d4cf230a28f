package dev.lorastream.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lorastream.devstack.TestKafkaCluster;
import dev.lorastream.gateway.Gateway;
import dev.lorastream.gateway.GatewayConfig;
import dev.lorastream.gateway.TenantKeys;
import dev.lorastream.ingest.LoraClient;
import dev.lorastream.ingest.LoraClientConfig;
import dev.lorastream.ingest.PromptTokenizer;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.SamplingParams;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Batch API end to end: {@code /v1/files} and {@code /v1/batches} over HTTP on the embedded
 * stack (in-process broker, batcher, inference consumer on the trained demo model with its style
 * adapters: legal and docs owned by acme, python by globex). Batches run two requests at a time.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class GatewayBatchTest {
  private static final Path HOME = Path.of("").toAbsolutePath().getParent();
  private static final int CONCURRENCY = 2;

  private final ObjectMapper json = new ObjectMapper();
  private final HttpClient http =
      HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
  @TempDir static Path tmp;
  private TestKafkaCluster cluster;
  private String registry;
  private DemoFixtures fx;
  private ServingPipeline pipeline;
  private PromptTokenizer tokenizer;
  private LoraClient direct;
  private Map<String, String> keys;
  private Gateway gateway;
  private String url;

  @BeforeAll
  void startStack() throws Exception {
    fx = DemoFixtures.prepare(HOME, tmp.resolve("work"), 0);
    assertEquals(DemoFixtures.STYLE_ORDER, fx.styles(), "the trained demo model is there");
    cluster = TestKafkaCluster.start();
    registry = "mock://gateway-batch-" + UUID.randomUUID();
    DemoFixtures.createTopics(cluster.bootstrapServers());
    fx.publishAdapters(cluster.bootstrapServers(), Map.of("schema.registry.url", registry));
    pipeline = ServingPipeline.start(fx, cluster.bootstrapServers(), registry, "batch");
    tokenizer = PromptTokenizer.load(fx.modelDir());
    direct =
        new LoraClient(
            LoraClientConfig.of(cluster.bootstrapServers(), registry)
                .withDefaultTimeout(Duration.ofSeconds(60)),
            tokenizer,
            null);
    keys = TenantKeys.randomKeys(fx.tenants());
    gateway = startGateway(tmp.resolve("data"));
    url = gateway.url();
  }

  private Gateway startGateway(Path data) {
    return Gateway.start(
        GatewayConfig.of(
                cluster.bootstrapServers(), registry, fx.modelDir(), TenantKeys.ofPlainKeys(keys))
            .withAddress("127.0.0.1", 0)
            .withBatch(
                new GatewayConfig.Batch(
                    data, CONCURRENCY, 1 << 20, GatewayConfig.Batch.DEFAULT_REQUEST_TIMEOUT)));
  }

  @AfterAll
  void stopStack() throws Exception {
    for (AutoCloseable c : new AutoCloseable[] {gateway, direct, tokenizer, pipeline, cluster}) {
      if (c != null) {
        c.close();
      }
    }
  }

  private static String line(String customId, String url, String body) {
    return "{\"custom_id\":\""
        + customId
        + "\",\"method\":\"POST\",\"url\":\""
        + url
        + "\",\"body\":"
        + body
        + "}";
  }

  private static String completion(String customId, String model, String prompt, int maxTokens) {
    return line(
        customId,
        "/v1/completions",
        "{\"model\":\""
            + model
            + "\",\"prompt\":\""
            + prompt
            + "\",\"max_tokens\":"
            + maxTokens
            + ",\"temperature\":0}");
  }

  @Test
  void aBatchAnswersEveryLineInInputOrderAndABadLineOnlyFailsItself() throws Exception {
    List<String> lines =
        List.of(
            completion("a", "legal", "The ", 5),
            "{oops",
            completion("b", "python", "def ", 5), // globex's adapter: 403
            completion("c", "base", "Once", 4),
            completion("a", "base", "again", 4), // a repeated custom_id
            line("d", "/v1/chat/completions", "{\"model\":\"base\",\"messages\":[]}"),
            line("e", "/v1/completions", "{\"model\":\"base\",\"prompt\":\"x\",\"n\":2}"),
            completion("f", "docs", "Copyright ", 6));
    String content = String.join("\n", lines) + "\n\n"; // a blank line is no request
    JsonNode file = upload("acme", "requests.jsonl", content);
    assertEquals("file", file.get("object").asText());
    assertEquals("batch", file.get("purpose").asText());
    assertEquals("requests.jsonl", file.get("filename").asText());
    assertEquals(content.getBytes(StandardCharsets.UTF_8).length, file.get("bytes").asLong());
    String fileId = file.get("id").asText();
    assertEquals(content, fetch("/v1/files/" + fileId + "/content", "acme").body());

    JsonNode created = createBatch("acme", fileId, "/v1/completions");
    assertEquals("batch", created.get("object").asText());
    assertEquals("/v1/completions", created.get("endpoint").asText());
    assertEquals(fileId, created.get("input_file_id").asText());
    assertEquals("24h", created.get("completion_window").asText());
    assertEquals("nightly", created.at("/metadata/job").asText());
    String id = created.get("id").asText();
    // another tenant sees neither the file nor the batch
    assertEquals(404, fetch("/v1/batches/" + id, "globex").statusCode());
    assertEquals(404, fetch("/v1/files/" + fileId, "globex").statusCode());
    assertEquals(404, fetch("/v1/files/" + fileId + "/content", "globex").statusCode());

    JsonNode done = awaitEnd(id, "acme");
    assertEquals("completed", done.get("status").asText(), done.toString());
    assertEquals(8, done.at("/request_counts/total").asInt(), done.toString());
    assertEquals(3, done.at("/request_counts/completed").asInt(), done.toString());
    assertEquals(5, done.at("/request_counts/failed").asInt(), done.toString());
    assertTrue(done.get("completed_at").asLong() >= done.get("in_progress_at").asLong());

    List<JsonNode> out =
        jsonl(
            fetch("/v1/files/" + done.get("output_file_id").asText() + "/content", "acme").body());
    assertEquals(List.of("a", "c", "f"), customIds(out));
    String[][] expected = {
      {"legal", "The ", "5"}, {null, "Once", "4"}, {"docs", "Copyright ", "6"}
    };
    for (int i = 0; i < out.size(); i++) {
      JsonNode r = out.get(i);
      assertEquals(200, r.at("/response/status_code").asInt(), r.toString());
      assertTrue(r.get("error").isNull(), r.toString());
      assertTrue(r.get("id").asText().startsWith("batch_req_"), r.toString());
      JsonNode body = r.at("/response/body");
      assertEquals("text_completion", body.get("object").asText());
      InferenceResult same =
          direct(expected[i][0], expected[i][1], Integer.parseInt(expected[i][2]));
      assertEquals(same.getText(), body.at("/choices/0/text").asText(), r.toString());
      assertEquals(
          same.getTokenIds().size(), body.at("/usage/completion_tokens").asInt(), r.toString());
    }

    List<JsonNode> errors =
        jsonl(fetch("/v1/files/" + done.get("error_file_id").asText() + "/content", "acme").body());
    assertEquals(5, errors.size(), errors.toString());
    // line 2: not JSON, no custom_id
    assertTrue(errors.get(0).get("custom_id").isNull());
    assertTrue(errors.get(0).get("response").isNull());
    assertEquals("invalid_json", errors.get(0).at("/error/code").asText());
    // line 3: answered as the endpoint would, 403
    assertEquals("b", errors.get(1).get("custom_id").asText());
    assertEquals(403, errors.get(1).at("/response/status_code").asInt());
    assertEquals("model_forbidden", errors.get(1).at("/response/body/error/code").asText());
    assertEquals("duplicate_custom_id", errors.get(2).at("/error/code").asText());
    assertEquals("d", errors.get(3).get("custom_id").asText());
    assertEquals("mismatched_url", errors.get(3).at("/error/code").asText());
    assertEquals(400, errors.get(4).at("/response/status_code").asInt());
    assertEquals("n", errors.get(4).at("/response/body/error/param").asText());

    // listed, newest first; an ended batch cannot be cancelled
    JsonNode list = json.readTree(fetch("/v1/batches?limit=100", "acme").body());
    assertTrue(customIds(list.get("data"), "id").contains(id), list.toString());
    assertTrue(json.readTree(fetch("/v1/batches", "globex").body()).get("data").isEmpty());
    HttpResponse<String> again = post("/v1/batches/" + id + "/cancel", "acme", "");
    assertEquals(409, again.statusCode(), again.body());
  }

  @Test
  void aCancelledBatchEndsWithTheLinesItRanAndListsTheOthersAsCancelled() throws Exception {
    List<String> lines = new ArrayList<>();
    for (int i = 0; i < 12; i++) {
      lines.add(
          line(
              "n" + i,
              "/v1/completions",
              "{\"model\":\"base\",\"prompt\":\"The \",\"max_tokens\":200,\"ignore_eos\":true}"));
    }
    String fileId = upload("acme", "long.jsonl", String.join("\n", lines)).get("id").asText();
    String id = createBatch("acme", fileId, "/v1/completions").get("id").asText();
    HttpResponse<String> cancel = post("/v1/batches/" + id + "/cancel", "acme", "");
    assertEquals(200, cancel.statusCode(), cancel.body());
    String status = json.readTree(cancel.body()).get("status").asText();
    assertEquals("cancelling", status, "the batch as the cancel left it: " + cancel.body());
    // cancelling again is no error, whether the batch is still cancelling, finalizing or ended
    HttpResponse<String> twice = post("/v1/batches/" + id + "/cancel", "acme", "");
    assertEquals(200, twice.statusCode(), twice.body());
    JsonNode done = awaitEnd(id, "acme");
    assertEquals("cancelled", done.get("status").asText(), done.toString());
    assertTrue(done.get("cancelled_at").isNumber());
    assertEquals(12, done.at("/request_counts/total").asInt());
    assertEquals(
        12,
        done.at("/request_counts/completed").asInt() + done.at("/request_counts/failed").asInt(),
        done.toString());
    List<JsonNode> all = new ArrayList<>();
    if (done.get("output_file_id").isTextual()) {
      all.addAll(
          jsonl(
              fetch("/v1/files/" + done.get("output_file_id").asText() + "/content", "acme")
                  .body()));
    }
    List<JsonNode> errors =
        jsonl(fetch("/v1/files/" + done.get("error_file_id").asText() + "/content", "acme").body());
    all.addAll(errors);
    assertEquals(12, all.size(), "each line once in one of the two files");
    long notRun =
        errors.stream().filter(e -> "batch_cancelled".equals(e.at("/error/code").asText())).count();
    assertTrue(notRun >= 12 - 2 * CONCURRENCY, "lines never sent: " + notRun);
  }

  @Test
  void aBatchGoesOnWhenTheGatewayStartsAgainAndAnswersEachLineOnce() throws Exception {
    Path data = tmp.resolve("restart");
    List<String> lines = new ArrayList<>();
    List<String> ids = new ArrayList<>();
    for (int i = 0; i < 10; i++) {
      ids.add("r" + i);
      lines.add(
          line(
              "r" + i,
              "/v1/completions",
              "{\"model\":\""
                  + (i % 2 == 0 ? "legal" : "base")
                  + "\",\"prompt\":\"Line "
                  + i
                  + ": \",\"max_tokens\":100,\"temperature\":0,\"ignore_eos\":true}"));
    }
    Gateway first = startGateway(data);
    String firstUrl = first.url();
    String fileId;
    String id;
    try {
      fileId =
          json.readTree(multipart(firstUrl, "acme", "r.jsonl", String.join("\n", lines)).body())
              .get("id")
              .asText();
      HttpResponse<String> created =
          send(
              firstUrl,
              "POST",
              "/v1/batches",
              "acme",
              "{\"input_file_id\":\""
                  + fileId
                  + "\",\"endpoint\":\"/v1/completions\","
                  + "\"completion_window\":\"24h\"}");
      assertEquals(200, created.statusCode(), created.body());
      id = json.readTree(created.body()).get("id").asText();
      long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
      JsonNode b;
      do {
        Thread.sleep(50);
        b = json.readTree(send(firstUrl, "GET", "/v1/batches/" + id, "acme", null).body());
      } while (b.at("/request_counts/completed").asInt() < 2 && System.nanoTime() < until);
      assertEquals("in_progress", b.get("status").asText(), "stopped half way: " + b);
    } finally {
      first.close();
    }
    try (Gateway second = startGateway(data)) {
      JsonNode done;
      long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
      do {
        Thread.sleep(100);
        done = json.readTree(send(second.url(), "GET", "/v1/batches/" + id, "acme", null).body());
      } while (!done.get("status").asText().equals("completed") && System.nanoTime() < until);
      assertEquals("completed", done.get("status").asText(), done.toString());
      assertEquals(10, done.at("/request_counts/completed").asInt(), done.toString());
      assertEquals(0, done.at("/request_counts/failed").asInt(), done.toString());
      assertTrue(done.get("error_file_id").isNull());
      List<JsonNode> out =
          jsonl(
              send(
                      second.url(),
                      "GET",
                      "/v1/files/" + done.get("output_file_id").asText() + "/content",
                      "acme",
                      null)
                  .body());
      assertEquals(ids, customIds(out));
      for (int i = 0; i < 10; i++) {
        InferenceResult same = direct(i % 2 == 0 ? "legal" : null, "Line " + i + ": ", 100, true);
        assertEquals(same.getText(), out.get(i).at("/response/body/choices/0/text").asText());
      }
    }
  }

  @Test
  void badBatchRequestsAreAnsweredInOpenAisShape() throws Exception {
    String fileId =
        upload("acme", "one.jsonl", completion("x", "base", "Hi", 1)).get("id").asText();
    HttpResponse<String> r =
        post(
            "/v1/batches",
            "acme",
            "{\"input_file_id\":\""
                + fileId
                + "\",\"endpoint\":\"/v1/embeddings\",\"completion_window\":\"24h\"}");
    assertEquals(400, r.statusCode(), r.body());
    assertEquals("endpoint", json.readTree(r.body()).at("/error/param").asText());
    r =
        post(
            "/v1/batches",
            "acme",
            "{\"input_file_id\":\""
                + fileId
                + "\",\"endpoint\":\"/v1/completions\",\"completion_window\":\"1h\"}");
    assertEquals(400, r.statusCode(), r.body());
    assertEquals("completion_window", json.readTree(r.body()).at("/error/param").asText());
    r =
        post(
            "/v1/batches",
            "globex",
            "{\"input_file_id\":\""
                + fileId
                + "\",\"endpoint\":\"/v1/completions\",\"completion_window\":\"24h\"}");
    assertEquals(404, r.statusCode(), "another tenant's file: " + r.body());
    r = multipart(url, "acme", "x.jsonl", "{}", "fine-tune");
    assertEquals(400, r.statusCode(), r.body());
    assertEquals("purpose", json.readTree(r.body()).at("/error/param").asText());
    // a file over the limit (1 MiB here)
    r = multipart(url, "acme", "big.jsonl", "x".repeat((1 << 20) + 100 * 1024), "batch");
    assertEquals(413, r.statusCode(), r.body());
    assertEquals("file_too_large", json.readTree(r.body()).at("/error/code").asText());
    // an empty file: the batch fails, saying why
    String empty = upload("acme", "empty.jsonl", "\n").get("id").asText();
    JsonNode failed =
        awaitEnd(createBatch("acme", empty, "/v1/completions").get("id").asText(), "acme");
    assertEquals("failed", failed.get("status").asText());
    assertEquals("empty_file", failed.at("/errors/data/0/code").asText(), failed.toString());
    // a deleted file is gone
    HttpResponse<String> deleted = send(url, "DELETE", "/v1/files/" + fileId, "acme", null);
    assertEquals(200, deleted.statusCode(), deleted.body());
    assertEquals(404, fetch("/v1/files/" + fileId, "acme").statusCode());
  }

  // ---- helpers ----

  private InferenceResult direct(String adapter, String prompt, int maxTokens) throws Exception {
    return direct(adapter, prompt, maxTokens, false);
  }

  private InferenceResult direct(String adapter, String prompt, int maxTokens, boolean ignoreEos)
      throws Exception {
    InferenceResult r =
        direct
            .submit(
                InferenceRequest.newBuilder()
                    .setTenantId("acme")
                    .setAdapterId(adapter)
                    .setPrompt(prompt)
                    .setSampling(
                        SamplingParams.newBuilder()
                            .setMaxTokens(maxTokens)
                            .setTemperature(0f)
                            .setIgnoreEos(ignoreEos)
                            .build()))
            .get(60, TimeUnit.SECONDS);
    assertNull(r.getErrorCode(), r.getErrorMessage());
    return r;
  }

  private JsonNode upload(String tenant, String name, String content) throws Exception {
    HttpResponse<String> r = multipart(url, tenant, name, content);
    assertEquals(200, r.statusCode(), r.body());
    return json.readTree(r.body());
  }

  private HttpResponse<String> multipart(String base, String tenant, String name, String content)
      throws Exception {
    return multipart(base, tenant, name, content, "batch");
  }

  private HttpResponse<String> multipart(
      String base, String tenant, String name, String content, String purpose) throws Exception {
    String boundary = "----lorastream" + UUID.randomUUID();
    String body =
        "--"
            + boundary
            + "\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\n"
            + purpose
            + "\r\n--"
            + boundary
            + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\""
            + name
            + "\"\r\nContent-Type: application/jsonl\r\n\r\n"
            + content
            + "\r\n--"
            + boundary
            + "--\r\n";
    return http.send(
        HttpRequest.newBuilder(URI.create(base + "/v1/files"))
            .header("Authorization", "Bearer " + keys.get(tenant))
            .header("Content-Type", "multipart/form-data; boundary=" + boundary)
            .POST(HttpRequest.BodyPublishers.ofString(body))
            .build(),
        HttpResponse.BodyHandlers.ofString());
  }

  private JsonNode createBatch(String tenant, String fileId, String endpoint) throws Exception {
    HttpResponse<String> r =
        post(
            "/v1/batches",
            tenant,
            "{\"input_file_id\":\""
                + fileId
                + "\",\"endpoint\":\""
                + endpoint
                + "\",\"completion_window\":\"24h\",\"metadata\":{\"job\":\"nightly\"}}");
    assertEquals(200, r.statusCode(), r.body());
    return json.readTree(r.body());
  }

  private JsonNode awaitEnd(String id, String tenant) throws Exception {
    long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
    JsonNode b;
    do {
      Thread.sleep(50);
      b = json.readTree(fetch("/v1/batches/" + id, tenant).body());
    } while (List.of("validating", "in_progress", "finalizing", "cancelling")
            .contains(b.get("status").asText())
        && System.nanoTime() < until);
    return b;
  }

  private HttpResponse<String> fetch(String path, String tenant) throws Exception {
    return send(url, "GET", path, tenant, null);
  }

  private HttpResponse<String> post(String path, String tenant, String body) throws Exception {
    return send(url, "POST", path, tenant, body);
  }

  private HttpResponse<String> send(
      String base, String method, String path, String tenant, String body) throws Exception {
    HttpRequest.Builder b =
        HttpRequest.newBuilder(URI.create(base + path))
            .timeout(Duration.ofSeconds(60))
            .header("Authorization", "Bearer " + keys.get(tenant));
    if (body != null) {
      b.header("Content-Type", "application/json");
    }
    b.method(
        method,
        body == null
            ? HttpRequest.BodyPublishers.noBody()
            : HttpRequest.BodyPublishers.ofString(body));
    return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  private List<JsonNode> jsonl(String content) throws Exception {
    List<JsonNode> out = new ArrayList<>();
    for (String l : content.split("\n")) {
      if (!l.isBlank()) {
        out.add(json.readTree(l));
      }
    }
    return out;
  }

  private static List<String> customIds(List<JsonNode> rows) {
    return rows.stream().map(r -> r.get("custom_id").asText()).toList();
  }

  private static List<String> customIds(JsonNode array, String field) {
    List<String> out = new ArrayList<>();
    array.forEach(n -> out.add(n.get(field).asText()));
    return out;
  }
}
