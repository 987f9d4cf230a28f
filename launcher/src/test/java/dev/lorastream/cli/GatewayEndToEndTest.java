package dev.lorastream.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lorastream.devstack.TestKafkaCluster;
import dev.lorastream.gateway.Gateway;
import dev.lorastream.gateway.GatewayConfig;
import dev.lorastream.gateway.TenantKeys;
import dev.lorastream.ingest.LoraClient;
import dev.lorastream.ingest.LoraClientConfig;
import dev.lorastream.ingest.PromptTokenizer;
import dev.lorastream.schemas.CancelRequest;
import dev.lorastream.schemas.ErrorCode;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.SamplingParams;
import dev.lorastream.schemas.Topic;
import dev.lorastream.schemas.Topics;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The OpenAI-compatible gateway end to end, over the stack {@code demo --serve} runs: an in-process
 * KRaft broker, the {@code mock://} registry, the batcher and one CPU inference consumer on the
 * demo model ({@code models/lorastream-demo}) with its style adapters (legal and docs owned by
 * acme, python by globex, shell by initech) plus {@code shared-docs}, a public adapter. Every call
 * is a real HTTP request ({@link HttpClient}); completions are compared with what the pipeline
 * answers a {@link LoraClient} for the same request (greedy decoding, so the tokens are the same).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class GatewayEndToEndTest {
  private static final Path HOME =
      Path.of("").toAbsolutePath().getParent(); // surefire runs in launcher/
  private static final int MAX_BODY_BYTES = 4096;
  private static final int MAX_PROMPT_TOKENS = 100;

  private final ObjectMapper json = new ObjectMapper();
  private final HttpClient http =
      HttpClient.newBuilder()
          .version(HttpClient.Version.HTTP_1_1)
          .connectTimeout(Duration.ofSeconds(10))
          .build();
  @TempDir static Path tmp;
  private TestKafkaCluster cluster;
  private String registry;
  private ServingPipeline pipeline;
  private PromptTokenizer tokenizer;
  private LoraClient direct;
  private Gateway gateway;
  private Map<String, String> keys;
  private String url;

  @BeforeAll
  void startStack() throws Exception {
    DemoFixtures demo = DemoFixtures.prepare(HOME, tmp.resolve("work"), 0);
    assertEquals(DemoFixtures.STYLE_ORDER, demo.styles(), "the trained demo model is there");
    Map<String, Path> dirs = new LinkedHashMap<>(demo.adapterDirs());
    Map<String, String> owners = new LinkedHashMap<>(demo.adapters());
    dirs.put("shared-docs", dirs.get("docs"));
    owners.put("shared-docs", null); // public
    DemoFixtures fx =
        new DemoFixtures(
            demo.modelDir(), demo.adapterRoots(), dirs, owners, demo.styles(), demo.tenants());
    for (Path root : fx.adapterRoots()) {
      Files.createDirectories(root);
    }
    cluster = TestKafkaCluster.start();
    registry = "mock://gateway-" + UUID.randomUUID();
    DemoFixtures.createTopics(cluster.bootstrapServers());
    fx.publishAdapters(cluster.bootstrapServers(), Map.of("schema.registry.url", registry));
    pipeline = ServingPipeline.start(fx, cluster.bootstrapServers(), registry, "gateway");
    tokenizer = PromptTokenizer.load(fx.modelDir());
    direct =
        new LoraClient(
            LoraClientConfig.of(cluster.bootstrapServers(), registry)
                .withDefaultTimeout(Duration.ofSeconds(60)),
            tokenizer,
            null);
    keys = TenantKeys.randomKeys(fx.tenants());
    gateway = startGateway(Duration.ofSeconds(60), "gateway-data");
    url = gateway.url();
  }

  private Gateway startGateway(Duration timeout, String dataFolder) {
    return Gateway.start(
        GatewayConfig.of(
                cluster.bootstrapServers(),
                registry,
                HOME.resolve("models/lorastream-demo"),
                TenantKeys.ofPlainKeys(keys))
            .withAddress("127.0.0.1", 0)
            .withLimits(MAX_BODY_BYTES, MAX_PROMPT_TOKENS, timeout)
            .withBatch(GatewayConfig.Batch.in(tmp.resolve(dataFolder))));
  }

  @AfterAll
  void stopStack() throws Exception {
    // the gateway first, the broker last
    for (AutoCloseable c : new AutoCloseable[] {gateway, pipeline, direct, tokenizer, cluster}) {
      if (c != null) {
        c.close();
      }
    }
  }

  // ---- completions ----

  @Test
  void aCompletionOfAnAdapterIsThePipelinesAnswerInOpenAisShape() throws Exception {
    HttpResponse<String> r =
        post(
            "/v1/completions",
            "acme",
            "{\"model\":\"legal\",\"prompt\":\"The \",\"max_tokens\":8,\"temperature\":0}");
    assertEquals(200, r.statusCode(), r.body());
    assertEquals("application/json", r.headers().firstValue("Content-Type").orElse(""));
    JsonNode body = json.readTree(r.body());
    InferenceResult expected = direct("acme", "legal", "The ", 8, List.of());
    assertTrue(body.get("id").asText().startsWith("cmpl-"), body.toString());
    assertEquals("text_completion", body.get("object").asText());
    assertEquals("legal", body.get("model").asText());
    assertTrue(body.get("created").asLong() > 1_700_000_000L, body.toString());
    JsonNode choice = body.get("choices").get(0);
    assertEquals(1, body.get("choices").size());
    assertEquals(0, choice.get("index").asInt());
    assertEquals(expected.getText(), choice.get("text").asText());
    assertEquals(finishReason(expected), choice.get("finish_reason").asText());
    assertEquals(5, body.get("usage").get("prompt_tokens").asInt(), "<s> and 4 bytes");
    assertEquals(
        expected.getUsage().getCompletionTokens(),
        body.get("usage").get("completion_tokens").asInt());
    assertEquals(
        5 + expected.getUsage().getCompletionTokens(),
        body.get("usage").get("total_tokens").asInt());
  }

  @Test
  void aCompletionOfTheBaseModelIgnoresUnknownFieldsAndHonoursStop() throws Exception {
    HttpResponse<String> r =
        post(
            "/v1/completions",
            "globex",
            "{\"model\":\"base\",\"prompt\":\"The \",\"max_tokens\":12,\"temperature\":0,"
                + "\"stop\":[\"e\"],\"user\":\"someone\",\"some_future_field\":{\"x\":1}}");
    assertEquals(200, r.statusCode(), r.body());
    JsonNode choice = json.readTree(r.body()).get("choices").get(0);
    InferenceResult expected = direct("globex", null, "The ", 12, List.of("e"));
    assertEquals(expected.getText(), choice.get("text").asText());
    assertEquals(finishReason(expected), choice.get("finish_reason").asText());
  }

  @Test
  void aChatCompletionPromptsTheModelInTheStatedFormat() throws Exception {
    HttpResponse<String> r =
        post(
            "/v1/chat/completions",
            "globex",
            "{\"model\":\"python\",\"max_tokens\":10,\"temperature\":0,\"messages\":["
                + "{\"role\":\"system\",\"content\":\"You write Python.\"},"
                + "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"def \"}]}]}");
    assertEquals(200, r.statusCode(), r.body());
    JsonNode body = json.readTree(r.body());
    String prompt = "System: You write Python.\n\nUser: def \n\nAssistant:";
    InferenceResult expected = direct("globex", "python", prompt, 10, List.of("\n\nUser:"));
    assertTrue(body.get("id").asText().startsWith("chatcmpl-"), body.toString());
    assertEquals("chat.completion", body.get("object").asText());
    assertEquals("python", body.get("model").asText());
    JsonNode choice = body.get("choices").get(0);
    assertEquals("assistant", choice.get("message").get("role").asText());
    assertEquals(expected.getText(), choice.get("message").get("content").asText());
    assertEquals(finishReason(expected), choice.get("finish_reason").asText());
    assertEquals(
        prompt.getBytes(StandardCharsets.UTF_8).length + 1,
        body.get("usage").get("prompt_tokens").asInt());
  }

  // ---- streaming ----

  @Test
  void aStreamedCompletionSendsChunksThatAddUpToTheTextThenUsageThenDone() throws Exception {
    String request =
        "{\"model\":\"shared-docs\",\"prompt\":\"The \",\"max_tokens\":16,\"temperature\":0,"
            + "\"stream\":true,\"stream_options\":{\"include_usage\":true}}";
    HttpResponse<String> r = post("/v1/completions", "initech", request);
    assertEquals(200, r.statusCode(), r.body());
    assertTrue(
        r.headers().firstValue("Content-Type").orElse("").startsWith("text/event-stream"),
        r.headers().toString());
    List<String> data = sseData(r.body());
    assertEquals("[DONE]", data.getLast());
    List<JsonNode> events = new ArrayList<>();
    for (String d : data.subList(0, data.size() - 1)) {
      events.add(json.readTree(d));
    }
    InferenceResult expected = direct("initech", "shared-docs", "The ", 16, List.of());
    StringBuilder text = new StringBuilder();
    String id = events.getFirst().get("id").asText();
    JsonNode usage = events.getLast();
    List<JsonNode> chunks = events.subList(0, events.size() - 1);
    for (int i = 0; i < chunks.size(); i++) {
      JsonNode e = chunks.get(i);
      assertEquals(id, e.get("id").asText());
      assertEquals("text_completion", e.get("object").asText());
      assertEquals("shared-docs", e.get("model").asText());
      JsonNode choice = e.get("choices").get(0);
      text.append(choice.get("text").asText());
      boolean last = i == chunks.size() - 1;
      assertEquals(
          last ? finishReason(expected) : null,
          choice.get("finish_reason").isNull() ? null : choice.get("finish_reason").asText(),
          e.toString());
    }
    assertTrue(chunks.size() >= 2, "at least one text chunk and the last: " + data);
    assertEquals(expected.getText(), text.toString());
    assertEquals(0, usage.get("choices").size(), usage.toString());
    assertEquals(5, usage.get("usage").get("prompt_tokens").asInt());
    assertEquals(
        expected.getUsage().getCompletionTokens(),
        usage.get("usage").get("completion_tokens").asInt());
  }

  @Test
  void aStreamedChatStartsWithTheRoleAndEndsWithDone() throws Exception {
    HttpResponse<String> r =
        post(
            "/v1/chat/completions",
            "acme",
            "{\"model\":\"docs\",\"max_tokens\":8,\"temperature\":0,\"stream\":true,"
                + "\"messages\":[{\"role\":\"user\",\"content\":\"git \"}]}");
    assertEquals(200, r.statusCode(), r.body());
    List<String> data = sseData(r.body());
    assertEquals("[DONE]", data.getLast());
    JsonNode first = json.readTree(data.getFirst());
    assertEquals("chat.completion.chunk", first.get("object").asText());
    assertEquals("assistant", first.get("choices").get(0).get("delta").get("role").asText());
    InferenceResult expected =
        direct("acme", "docs", "User: git \n\nAssistant:", 8, List.of("\n\nUser:"));
    StringBuilder text = new StringBuilder();
    for (String d : data.subList(1, data.size() - 1)) {
      JsonNode e = json.readTree(d);
      assertEquals("chat.completion.chunk", e.get("object").asText());
      text.append(e.get("choices").get(0).get("delta").path("content").asText(""));
    }
    JsonNode last = json.readTree(data.get(data.size() - 2));
    assertEquals(finishReason(expected), last.get("choices").get(0).get("finish_reason").asText());
    assertEquals(expected.getText(), text.toString());
  }

  @Test
  void aStreamingClientThatDisconnectsHasItsRequestCancelled() throws Exception {
    // a request that can only end at max_tokens (end-of-sequence ignored) unless it is cancelled
    String body =
        "{\"model\":\"base\",\"prompt\":\"The \",\"max_tokens\":240,\"ignore_eos\":true,"
            + "\"stream\":true}";
    // A plain socket, so that the test decides when the connection goes: closed with SO_LINGER 0
    // (a reset), as a client that crashed or was killed.
    URI uri = URI.create(url);
    String requestId;
    try (Socket socket = new Socket(uri.getHost(), uri.getPort())) {
      socket.setSoLinger(true, 0);
      byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
      socket
          .getOutputStream()
          .write(
              ("POST /v1/completions HTTP/1.1\r\nHost: "
                      + uri.getHost()
                      + "\r\nAuthorization: Bearer "
                      + keys.get("acme")
                      + "\r\nContent-Type: application/json\r\nContent-Length: "
                      + bytes.length
                      + "\r\n\r\n"
                      + body)
                  .getBytes(StandardCharsets.UTF_8));
      BufferedReader in =
          new BufferedReader(
              new InputStreamReader(socket.getInputStream(), StandardCharsets.UTF_8));
      assertEquals("HTTP/1.1 200 OK", in.readLine());
      String line;
      while (!(line = in.readLine()).startsWith("data: ")) {
        // skip headers, chunk sizes, blank lines and comments
      }
      requestId = json.readTree(line.substring(6)).get("id").asText().substring("cmpl-".length());
    }
    // the gateway's part: it sends the cancel of the request whose client went away
    CancelRequest cancel = awaitRecord(Topics.CANCEL, requestId);
    assertEquals("acme", cancel.getTenantId());
    InferenceResult reply = awaitReply(requestId);
    assertEquals("acme", reply.getTenantId());
    // the consumer's: it stops there, unless the 240 tokens were done first (a loaded machine;
    // StreamCancelPipelineTest asserts the stop with a context that cannot finish in time)
    if (reply.getErrorCode() != null || reply.getTokenIds().size() < 240) {
      assertEquals(ErrorCode.CANCELLED, reply.getErrorCode(), reply.toString());
      assertTrue(reply.getTokenIds().size() < 240, reply.toString());
    }
  }

  // ---- Prefer: respond-async ----

  @Test
  void aRespondAsyncRequestIsAccepted202ThenItsResultIsFetchedById() throws Exception {
    HttpResponse<String> accepted =
        http.send(
            request("/v1/completions", keys.get("acme"))
                .header("Prefer", "respond-async")
                .POST(
                    HttpRequest.BodyPublishers.ofString(
                        "{\"model\":\"docs\",\"prompt\":\"The \",\"max_tokens\":10,"
                            + "\"temperature\":0}"))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    assertEquals(202, accepted.statusCode(), accepted.body());
    assertEquals("respond-async", accepted.headers().firstValue("Preference-Applied").orElse(""));
    JsonNode pending = json.readTree(accepted.body());
    String id = pending.get("id").asText();
    assertTrue(id.startsWith("cmpl-"), id);
    assertEquals("request", pending.get("object").asText());
    assertEquals("in_progress", pending.get("status").asText());
    assertEquals("/v1/requests/" + id, accepted.headers().firstValue("Location").orElse(""));

    HttpResponse<String> done = get("/v1/requests/" + id, "acme");
    long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (done.statusCode() == 202 && System.nanoTime() < end) {
      assertEquals("1", done.headers().firstValue("Retry-After").orElse(""));
      Thread.sleep(50);
      done = get("/v1/requests/" + id, "acme");
    }
    assertEquals(200, done.statusCode(), done.body());
    JsonNode body = json.readTree(done.body());
    InferenceResult expected = direct("acme", "docs", "The ", 10, List.of());
    assertEquals(id, body.get("id").asText());
    assertEquals("text_completion", body.get("object").asText());
    assertEquals(expected.getText(), body.get("choices").get(0).get("text").asText());
    assertEquals(200, get("/v1/requests/" + id, "acme").statusCode(), "kept after a read");

    HttpResponse<String> foreign = get("/v1/requests/" + id, "globex");
    assertError(foreign, 404, "invalid_request_error", "id", "request_not_found");
  }

  @Test
  void respondAsyncWithStreamIs400() throws Exception {
    HttpResponse<String> r =
        http.send(
            request("/v1/chat/completions", keys.get("acme"))
                .header("Prefer", "wait=5, respond-async")
                .POST(
                    HttpRequest.BodyPublishers.ofString(
                        "{\"model\":\"base\",\"stream\":true,\"messages\":"
                            + "[{\"role\":\"user\",\"content\":\"hi\"}]}"))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    assertError(r, 400, "invalid_request_error", "stream", "invalid_value");
  }

  // ---- models ----

  @Test
  void theModelsListHasTheBaseModelAndOnlyTheCallersAndPublicAdapters() throws Exception {
    assertEquals(List.of("base", "docs", "legal", "shared-docs"), modelIds("acme"));
    assertEquals(List.of("base", "python", "shared-docs"), modelIds("globex"));
    assertEquals(List.of("base", "shared-docs", "shell"), modelIds("initech"));
    JsonNode list = json.readTree(get("/v1/models", "acme").body());
    assertEquals("list", list.get("object").asText());
    JsonNode legal = list.get("data").get(2);
    assertEquals("model", legal.get("object").asText());
    assertEquals("acme", legal.get("owned_by").asText());
    assertEquals("public", list.get("data").get(3).get("owned_by").asText());
  }

  // ---- errors ----

  @Test
  void noApiKeyIs401() throws Exception {
    HttpResponse<String> r =
        http.send(
            HttpRequest.newBuilder(URI.create(url + "/v1/models")).GET().build(),
            HttpResponse.BodyHandlers.ofString());
    assertError(r, 401, "invalid_request_error", null, "missing_api_key");
  }

  @Test
  void anUnknownApiKeyIs401() throws Exception {
    HttpResponse<String> r =
        http.send(
            HttpRequest.newBuilder(URI.create(url + "/v1/completions"))
                .header("Authorization", "Bearer not-a-key")
                .POST(HttpRequest.BodyPublishers.ofString("{\"model\":\"base\",\"prompt\":\"x\"}"))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    assertError(r, 401, "invalid_request_error", null, "invalid_api_key");
  }

  @Test
  void anotherTenantsAdapterIs403() throws Exception {
    HttpResponse<String> r =
        post("/v1/completions", "globex", "{\"model\":\"legal\",\"prompt\":\"The \"}");
    assertError(r, 403, "permission_error", "model", "model_forbidden");
    HttpResponse<String> jit =
        post("/v1/completions", "globex", "{\"model\":\"acme/mine\",\"prompt\":\"The \"}");
    assertError(jit, 403, "permission_error", "model", "model_forbidden");
    HttpResponse<String> listed = get("/v1/models/legal", "globex");
    assertError(listed, 403, "permission_error", "model", "model_forbidden");
  }

  @Test
  void anUnknownModelIs404() throws Exception {
    HttpResponse<String> r =
        post(
            "/v1/chat/completions",
            "acme",
            "{\"model\":\"gpt-4o\",\"messages\":" + "[{\"role\":\"user\",\"content\":\"hi\"}]}");
    assertError(r, 404, "invalid_request_error", "model", "model_not_found");
    assertTrue(json.readTree(r.body()).at("/error/message").asText().contains("'gpt-4o'"));
  }

  @Test
  void malformedJsonIs400AndTheGatewayKeepsServing() throws Exception {
    HttpResponse<String> r = post("/v1/completions", "acme", "{\"model\": \"base\", \"prompt\":");
    assertError(r, 400, "invalid_request_error", null, "invalid_json");
    HttpResponse<String> array = post("/v1/completions", "acme", "[1, 2]");
    assertError(array, 400, "invalid_request_error", null, "invalid_json");
    HttpResponse<String> after =
        post(
            "/v1/completions",
            "acme",
            "{\"model\":\"base\",\"prompt\":\"The \",\"max_tokens\":2,\"temperature\":0}");
    assertEquals(200, after.statusCode(), after.body());
  }

  @Test
  void moreThanOneChoiceIs400NamingN() throws Exception {
    HttpResponse<String> r =
        post("/v1/completions", "acme", "{\"model\":\"base\",\"prompt\":\"The \",\"n\":2}");
    assertError(r, 400, "invalid_request_error", "n", "unsupported_parameter");
    assertTrue(json.readTree(r.body()).at("/error/message").asText().startsWith("'n' is not"));
    HttpResponse<String> penalty =
        post(
            "/v1/chat/completions",
            "acme",
            "{\"model\":\"base\",\"presence_penalty\":0.5,\"messages\":"
                + "[{\"role\":\"user\",\"content\":\"hi\"}]}");
    assertError(penalty, 400, "invalid_request_error", "presence_penalty", "unsupported_parameter");
  }

  @Test
  void aBadParameterIs400NamingIt() throws Exception {
    HttpResponse<String> r =
        post(
            "/v1/completions",
            "acme",
            "{\"model\":\"base\",\"prompt\":\"The \",\"temperature\":-1}");
    assertError(r, 400, "invalid_request_error", "temperature", "invalid_value");
    HttpResponse<String> noMessages = post("/v1/chat/completions", "acme", "{\"model\":\"base\"}");
    assertError(noMessages, 400, "invalid_request_error", "messages", "invalid_value");
  }

  @Test
  void aBodyOverTheLimitIs413() throws Exception {
    String big = "{\"model\":\"base\",\"prompt\":\"" + "x".repeat(MAX_BODY_BYTES) + "\"}";
    HttpResponse<String> r = post("/v1/completions", "acme", big);
    assertError(r, 413, "invalid_request_error", null, "request_too_large");
  }

  @Test
  void aPromptOverTheTokenLimitIs413() throws Exception {
    String prompt = "y".repeat(MAX_PROMPT_TOKENS); // + <s>: one token over
    HttpResponse<String> r =
        post("/v1/completions", "acme", "{\"model\":\"base\",\"prompt\":\"" + prompt + "\"}");
    assertError(r, 413, "invalid_request_error", "prompt", "context_length_exceeded");
    assertTrue(
        json.readTree(r.body())
            .at("/error/message")
            .asText()
            .startsWith("the prompt is 101 tokens"),
        r.body());
  }

  @Test
  void aRequestPastTheGatewaysDeadlineIs504() throws Exception {
    try (Gateway hurried = startGateway(Duration.ofMillis(1), "gateway-hurried")) {
      HttpResponse<String> r =
          http.send(
              request(hurried.url() + "/v1/completions", keys.get("acme"), true)
                  .POST(
                      HttpRequest.BodyPublishers.ofString(
                          "{\"model\":\"base\",\"prompt\":\"The \",\"max_tokens\":64}"))
                  .build(),
              HttpResponse.BodyHandlers.ofString());
      assertEquals(504, r.statusCode(), r.body());
      assertTrue(json.readTree(r.body()).at("/error/type").asText().equals("timeout_error"));
    }
  }

  @Test
  void aTenantOverItsRequestsPerMinuteIs429WithRetryAfterAndAnotherTenantIsServed()
      throws Exception {
    // (and the gateway's /metrics counts each exchange by route, status and tenant)
    try (Gateway limited =
        Gateway.start(
            GatewayConfig.of(
                    cluster.bootstrapServers(),
                    registry,
                    HOME.resolve("models/lorastream-demo"),
                    TenantKeys.ofPlainKeys(keys))
                .withAddress("127.0.0.1", 0)
                .withLimits(MAX_BODY_BYTES, MAX_PROMPT_TOKENS, Duration.ofSeconds(60))
                .withRateLimits(1, 0)
                .withBatch(GatewayConfig.Batch.in(tmp.resolve("gateway-limited"))))) {
      String body = "{\"model\":\"base\",\"prompt\":\"The \",\"max_tokens\":2}";
      long sent = System.nanoTime();
      HttpResponse<String> first = postTo(limited.url(), keys.get("acme"), body);
      assertEquals(200, first.statusCode(), first.body());
      HttpResponse<String> second = postTo(limited.url(), keys.get("acme"), body);
      long elapsedMs = (System.nanoTime() - sent) / 1_000_000;
      assertEquals(429, second.statusCode(), second.body());
      // one request a minute: the next is due 60 s after the first was admitted, rounded up
      long retryAfter = Long.parseLong(second.headers().firstValue("Retry-After").orElse("-1"));
      assertTrue(
          retryAfter <= 60 && retryAfter >= 60 - elapsedMs / 1000,
          "Retry-After " + retryAfter + " s, " + elapsedMs + " ms after the first request");
      JsonNode e = json.readTree(second.body()).get("error");
      assertEquals("rate_limit_error", e.get("type").asText());
      assertEquals("rate_limit_exceeded", e.get("code").asText());
      assertTrue(e.get("message").asText().contains("requests per minute (1)"), second.body());
      HttpResponse<String> other = postTo(limited.url(), keys.get("globex"), body);
      assertEquals(200, other.statusCode(), other.body());
      HttpResponse<String> stranger = postTo(limited.url(), "not-a-key", body);
      assertEquals(401, stranger.statusCode(), stranger.body());
      String completions = "lorastream_gateway_requests_seconds_count{route=\"/v1/completions\",";
      assertScrapeHas(
          limited.url(),
          List.of(
              completions + "status=\"200\",tenant=\"acme\"} 1",
              completions + "status=\"429\",tenant=\"acme\"} 1",
              completions + "status=\"200\",tenant=\"globex\"} 1",
              completions + "status=\"401\",tenant=\"none\"} 1",
              "lorastream_gateway_rate_limited_total{tenant=\"acme\"} 1.0",
              "lorastream_gateway_streams_open 0.0"));
    }
  }

  /**
   * Waits (5 s at most) until {@code GET /metrics} has each line: an exchange is counted just after
   * its answer is written, so the scrape may come first.
   */
  private void assertScrapeHas(String base, List<String> lines) throws Exception {
    String scrape = "";
    for (long end = System.nanoTime() + 5_000_000_000L; System.nanoTime() < end; ) {
      HttpResponse<String> m =
          http.send(
              HttpRequest.newBuilder(URI.create(base + "/metrics")).GET().build(),
              HttpResponse.BodyHandlers.ofString());
      assertEquals(200, m.statusCode(), m.body());
      scrape = m.body();
      if (scrape.lines().toList().containsAll(lines)) {
        return;
      }
      Thread.sleep(50);
    }
    List<String> missing = new ArrayList<>(lines);
    missing.removeAll(scrape.lines().toList());
    fail("missing from /metrics: " + missing + "\n" + scrape);
  }

  @Test
  void aModelsChatTemplateWritesThePromptAndItsEosTokenEndsTheAnswer() throws Exception {
    // the gateway needs only the tokenizer files: a copy with a tokenizer_config.json
    Path model = tmp.resolve("templated");
    Files.createDirectories(model);
    Files.copy(
        HOME.resolve("models/lorastream-demo/tokenizer.json"),
        model.resolve("tokenizer.json"),
        java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    String template =
        "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'system' %}"
            + "{{ raise_exception('this model takes no system message') }}{% endif %}"
            + "<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}<|assistant|>";
    // its rendering of one user message "The ", past the <s> (the tokenizer adds its own)
    String rendered = "<|user|>The \n<|assistant|>";
    InferenceResult free = direct("acme", null, rendered, 8, List.of());
    // the template's eos_token: the first generated token that is one token on its own
    int[] tokens = free.getTokenIds().stream().mapToInt(Integer::intValue).toArray();
    var hf = tokenizer.tokenizer();
    int k = 0;
    String eos = null;
    for (; k < tokens.length; k++) {
      String text = hf.decode(new int[] {tokens[k]});
      List<Integer> ids = new ArrayList<>(tokenizer.encode(text));
      ids.removeAll(tokenizer.encode(""));
      if (!text.isEmpty() && ids.equals(List.of(tokens[k]))) {
        eos = text;
        break;
      }
    }
    Assumptions.assumeTrue(eos != null, "no generated token is one token on its own: " + free);
    Files.writeString(
        model.resolve("tokenizer_config.json"),
        json.writeValueAsString(
            Map.of("chat_template", template, "bos_token", "<s>", "eos_token", eos)));
    try (Gateway templated =
        Gateway.start(
            GatewayConfig.of(
                    cluster.bootstrapServers(), registry, model, TenantKeys.ofPlainKeys(keys))
                .withAddress("127.0.0.1", 0)
                .withBatch(GatewayConfig.Batch.in(tmp.resolve("gateway-templated"))))) {
      HttpResponse<String> r =
          http.send(
              request(templated.url() + "/v1/chat/completions", keys.get("acme"), true)
                  .POST(
                      HttpRequest.BodyPublishers.ofString(
                          "{\"model\":\"base\",\"messages\":[{\"role\":\"user\",\"content\":"
                              + "\"The \"}],\"max_tokens\":8,\"temperature\":0}"))
                  .build(),
              HttpResponse.BodyHandlers.ofString());
      assertEquals(200, r.statusCode(), r.body());
      JsonNode c = json.readTree(r.body());
      assertEquals(
          hf.decode(java.util.Arrays.copyOf(tokens, k)),
          c.at("/choices/0/message/content").asText(),
          "the answer ends before the template's eos_token '" + eos + "': " + r.body());
      assertEquals("stop", c.at("/choices/0/finish_reason").asText(), r.body());
      assertEquals(
          tokenizer.encode(rendered).size(), c.at("/usage/prompt_tokens").asInt(), "one <s>");
      HttpResponse<String> refused =
          http.send(
              request(templated.url() + "/v1/chat/completions", keys.get("acme"), true)
                  .POST(
                      HttpRequest.BodyPublishers.ofString(
                          "{\"model\":\"base\",\"messages\":[{\"role\":\"system\","
                              + "\"content\":\"x\"},{\"role\":\"user\",\"content\":\"y\"}]}"))
                  .build(),
              HttpResponse.BodyHandlers.ofString());
      assertError(refused, 400, "invalid_request_error", "messages", "invalid_messages");
      assertTrue(refused.body().contains("this model takes no system message"), refused.body());
    }
  }

  /** The official client's pinned version (the last major that runs on Node 20). */
  private static final String OPENAI_NODE = "openai@6.30.1";

  @Test
  @Timeout(value = 300, unit = TimeUnit.SECONDS)
  void theOfficialOpenAiNodeClientGetsCompletionsChatAStreamTheModelsAnErrorAndABatch()
      throws Exception {
    Path dir = HOME.resolve("launcher/target/openai-node");
    Path installed = dir.resolve("node_modules/openai/package.json");
    if (!Files.exists(installed)) {
      Files.createDirectories(dir);
      Assumptions.assumeTrue(
          run(dir, 240, "npm", "--version").code() == 0,
          "npm is not installed: cannot test with " + OPENAI_NODE);
      Run npm =
          run(
              dir,
              240,
              "npm",
              "install",
              "--prefix",
              dir.toString(),
              "--no-audit",
              "--no-fund",
              "--loglevel=error",
              OPENAI_NODE);
      Assumptions.assumeTrue(
          npm.code() == 0,
          "npm could not install "
              + OPENAI_NODE
              + " (is the npm registry reachable?): "
              + npm.out());
    }
    // an ES module finds "openai" in the node_modules beside it, so it runs from there
    Path script = dir.resolve("openai-client-check.mjs");
    Files.copy(
        HOME.resolve("launcher/src/test/js/openai-client-check.mjs"),
        script,
        java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    Run node = run(dir, 120, "node", script.toString(), url, keys.get("acme"));
    assertEquals(0, node.code(), node.out());
    JsonNode out = json.readTree(node.out().lines().reduce((a, b) -> b).orElseThrow());
    // what the same request gets over plain HTTP
    JsonNode plain =
        json.readTree(
            post(
                    "/v1/completions",
                    "acme",
                    "{\"model\":\"legal\",\"prompt\":\"The \",\"max_tokens\":6,\"temperature\":0}")
                .body());
    String text = plain.at("/choices/0/text").asText();
    assertEquals(text, out.at("/completion/text").asText(), node.out());
    assertEquals(
        plain.at("/usage/completion_tokens").asInt(),
        out.at("/completion/usage/completion_tokens").asInt(),
        node.out());
    assertEquals("assistant", out.at("/chat/role").asText());
    int chatTokens = out.at("/chat/usage/completion_tokens").asInt();
    assertTrue(chatTokens >= 1 && chatTokens <= 4, node.out());
    assertEquals(text, out.at("/stream/text").asText(), "the streamed text adds up to the text");
    assertTrue(out.at("/stream/chunks").asInt() >= 2, node.out());
    List<String> models = new ArrayList<>();
    out.get("models").forEach(m -> models.add(m.asText()));
    assertEquals(List.of("base", "docs", "legal", "shared-docs"), models);
    assertEquals(404, out.at("/error/status").asInt(), node.out());
    assertEquals("model_not_found", out.at("/error/code").asText(), node.out());
    // a batch: the first line answered as the plain request, the second a 404 in the error file
    assertEquals("completed", out.at("/batch/status").asText(), node.out());
    assertEquals(2, out.at("/batch/counts/total").asInt(), node.out());
    assertEquals(1, out.at("/batch/counts/completed").asInt(), node.out());
    assertEquals("one", out.at("/batch/output/0/custom_id").asText(), node.out());
    assertEquals(text, out.at("/batch/output/0/response/body/choices/0/text").asText());
    assertEquals("two", out.at("/batch/errors/0/custom_id").asText(), node.out());
    assertEquals(404, out.at("/batch/errors/0/response/status_code").asInt(), node.out());
  }

  private record Run(int code, String out) {}

  private static Run run(Path dir, int timeoutS, String... command) throws Exception {
    Process p;
    try {
      p = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true).start();
    } catch (java.io.IOException e) {
      return new Run(127, command[0] + " cannot be started: " + e.getMessage());
    }
    java.util.concurrent.CompletableFuture<String> out =
        java.util.concurrent.CompletableFuture.supplyAsync(
            () -> {
              try {
                return new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
              } catch (java.io.IOException e) {
                return e.toString();
              }
            });
    if (!p.waitFor(timeoutS, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      return new Run(124, String.join(" ", command) + " took over " + timeoutS + " s");
    }
    return new Run(p.exitValue(), out.get(10, TimeUnit.SECONDS));
  }

  private HttpResponse<String> postTo(String base, String key, String body) throws Exception {
    return http.send(
        request(base + "/v1/completions", key, true)
            .POST(HttpRequest.BodyPublishers.ofString(body))
            .build(),
        HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void anUnknownPathIs404InOpenAisShape() throws Exception {
    HttpResponse<String> r = get("/v1/embeddings", "acme");
    assertError(r, 404, "invalid_request_error", null, "unknown_url");
  }

  // ---- helpers ----

  private List<String> modelIds(String tenant) throws Exception {
    HttpResponse<String> r = get("/v1/models", tenant);
    assertEquals(200, r.statusCode(), r.body());
    List<String> ids = new ArrayList<>();
    json.readTree(r.body()).get("data").forEach(m -> ids.add(m.get("id").asText()));
    return ids;
  }

  private void assertError(
      HttpResponse<String> r, int status, String type, String param, String code) throws Exception {
    assertEquals(status, r.statusCode(), r.body());
    JsonNode e = json.readTree(r.body()).get("error");
    assertTrue(e != null && e.get("message").asText().length() > 10, r.body());
    assertEquals(type, e.get("type").asText(), r.body());
    if (param == null) {
      assertTrue(e.get("param").isNull(), r.body());
    } else {
      assertEquals(param, e.get("param").asText(), r.body());
    }
    assertEquals(code, e.get("code").asText(), r.body());
  }

  private HttpResponse<String> post(String path, String tenant, String body) throws Exception {
    return http.send(
        request(path, keys.get(tenant)).POST(HttpRequest.BodyPublishers.ofString(body)).build(),
        HttpResponse.BodyHandlers.ofString());
  }

  private HttpResponse<String> get(String path, String tenant) throws Exception {
    return http.send(
        request(path, keys.get(tenant)).GET().build(), HttpResponse.BodyHandlers.ofString());
  }

  private HttpRequest.Builder request(String path, String key) {
    return request(url + path, key, true);
  }

  private static HttpRequest.Builder request(String uri, String key, boolean jsonBody) {
    HttpRequest.Builder b =
        HttpRequest.newBuilder(URI.create(uri))
            .timeout(Duration.ofSeconds(90))
            .header("Authorization", "Bearer " + key);
    return jsonBody ? b.header("Content-Type", "application/json") : b;
  }

  /** The {@code data:} payloads of a server-sent event stream, in order. */
  private static List<String> sseData(String body) {
    List<String> data = new ArrayList<>();
    for (String line : body.split("\n")) {
      if (line.startsWith("data: ")) {
        data.add(line.substring("data: ".length()));
      } else {
        assertTrue(line.isEmpty() || line.startsWith(":"), "an SSE line: " + line);
      }
    }
    return data;
  }

  /** What the pipeline answers a plain client for the same greedy request. */
  private InferenceResult direct(
      String tenant, String adapter, String prompt, int maxTokens, List<String> stops)
      throws Exception {
    InferenceResult r =
        direct
            .submit(
                InferenceRequest.newBuilder()
                    .setTenantId(tenant)
                    .setAdapterId(adapter)
                    .setPrompt(prompt)
                    .setSampling(
                        SamplingParams.newBuilder()
                            .setMaxTokens(maxTokens)
                            .setTemperature(0f)
                            .setStopStrings(stops)
                            .build()))
            .get(60, TimeUnit.SECONDS);
    assertNull(r.getErrorCode(), r.getErrorMessage());
    return r;
  }

  private static String finishReason(InferenceResult r) {
    return switch (r.getFinishReason()) {
      case STOP -> "stop";
      case LENGTH -> "length";
      case ERROR -> "error";
    };
  }

  /** The reply to {@code requestId} on {@code lora.replies}, read from the beginning. */
  private InferenceResult awaitReply(String requestId) {
    return awaitRecord(Topics.REPLIES, requestId);
  }

  /** The first committed record keyed {@code key} on {@code topic}, waiting up to 60 s. */
  private <V> V awaitRecord(Topic<String, V> topic, String key) {
    try (KafkaConsumer<String, V> records =
        new KafkaConsumer<>(
            Map.of(
                "bootstrap.servers",
                cluster.bootstrapServers(),
                "group.id",
                "gateway-test-" + UUID.randomUUID(),
                "auto.offset.reset",
                "earliest",
                "isolation.level",
                "read_committed"),
            new StringDeserializer(),
            topic.valueSerde(Map.of("schema.registry.url", registry)).deserializer())) {
      records.subscribe(List.of(topic.name()));
      long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
      while (System.nanoTime() < end) {
        for (ConsumerRecord<String, V> rec : records.poll(Duration.ofMillis(200))) {
          if (key.equals(rec.key())) {
            return rec.value();
          }
        }
      }
    }
    throw new AssertionError("no record keyed " + key + " on " + topic.name() + " within 60 s");
  }
}
