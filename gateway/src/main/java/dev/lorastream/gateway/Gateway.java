package dev.lorastream.gateway;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.lorastream.ingest.LoraClient;
import dev.lorastream.ingest.LoraClientConfig;
import dev.lorastream.ingest.PromptTokenizer;
import dev.lorastream.ingest.StreamEvent;
import dev.lorastream.schemas.AdapterRecord;
import dev.lorastream.schemas.FinishReason;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.JitAdapterName;
import dev.lorastream.schemas.Tracing;
import io.javalin.Javalin;
import io.javalin.compression.CompressionStrategy;
import io.javalin.config.SizeUnit;
import io.javalin.http.Context;
import io.javalin.http.HttpResponseException;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Collections;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Flow;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * An OpenAI-compatible HTTP API over the Kafka pipeline: {@code POST /v1/completions}, {@code POST
 * /v1/chat/completions} (both also as server-sent events with {@code stream: true}) and {@code GET
 * /v1/models}, served by Javalin (Jetty 12, a virtual thread per request). Each request is sent
 * with one shared {@link LoraClient} (shared tenancy: {@code lora.requests}, replies on {@code
 * lora.replies}, chunks on {@code lora.stream}) under the tenant its API key belongs to, so a key
 * reaches only its tenant's adapters and public ones, and only the results of its own requests.
 *
 * <p>{@code model} is {@code base} (the base model alone), a registered adapter id, or a
 * just-in-time {@code TENANT/NAME}. Errors use OpenAI's shape {@code {"error": {"message", "type",
 * "param", "code"}}}: 400 bad body or parameter (an unsupported option is named), 401 no or unknown
 * key, 403 another tenant's adapter, 404 unknown model or path, 413 body or prompt too large, 429
 * tenant over its rate limits ({@link TenantRateLimits}, with {@code Retry-After}), 504 deadline
 * passed; see {@link #errorOf} for the pipeline's error codes. A streaming client that disconnects
 * has its request cancelled ({@code lora.cancel}). A request sent with {@code Prefer:
 * respond-async} is answered 202 at once and its answer fetched from {@code GET /v1/requests/{id}}.
 * The whole API is described in docs/gateway.md.
 */
public final class Gateway implements AutoCloseable {
  /** The {@code model} that names the base model without an adapter. */
  public static final String BASE_MODEL = "base";

  /** Listen backlog asked of the OS (Linux caps it at net.core.somaxconn, 4096 by default). */
  private static final int ACCEPT_QUEUE = 4096;

  /** How often a streaming response with nothing new sends an SSE comment (finds disconnects). */
  private static final Duration HEARTBEAT = Duration.ofSeconds(1);

  private final GatewayConfig config;
  private final ObjectMapper json = new ObjectMapper();
  private final PromptTokenizer tokenizer;
  private final ChatTemplate template;

  /** What the tokenizer adds to any text (e.g. a BOS). */
  private final List<Integer> specialTokens;

  /** The token of the chat template's {@code eos_token}, where templated chats stop; or none. */
  private final List<Integer> chatStopIds;

  private final TenantClients clients;
  private final AdapterCatalogView catalog;
  private final AsyncRequests async;
  private final TenantRateLimits limits;
  private final Batches batches;
  private final Javalin app;
  private final long startedEpochSec = System.currentTimeMillis() / 1000;
  private final GatewayMetrics metrics = new GatewayMetrics();

  /** The context attribute holding the tenant a request's key proved. */
  private static final String TENANT_ATTRIBUTE = "lorastream.tenant";

  private Gateway(GatewayConfig config) {
    this.config = config;
    this.template = ChatTemplate.forModel(config.modelDir());
    this.tokenizer = PromptTokenizer.load(config.modelDir());
    this.specialTokens = tokenizer.encode("");
    this.chatStopIds = singleToken(template.eosToken());
    this.limits = new TenantRateLimits(config.requestsPerMinute(), config.tokensPerMinute());
    TenantClients c = null;
    AdapterCatalogView v = null;
    AsyncRequests a = null;
    try {
      c =
          new TenantClients(
              LoraClientConfig.of(config.bootstrapServers(), config.schemaRegistryUrl())
                  .withClientId(
                      "lorastream-gateway-" + UUID.randomUUID().toString().substring(0, 8))
                  .withDefaultTimeout(config.timeout())
                  .withKafkaOverrides(config.kafka()),
              tokenizer,
              Tracing.forService("lorastream-gateway"),
              config.topicsTenancy(),
              config.keys().tenants());
      v = new AdapterCatalogView(config.kafkaClientSettings(), serde());
      this.clients = c;
      this.catalog = v;
      a = new AsyncRequests(config.asyncRetention(), config.asyncMaxKept());
      this.async = a;
      this.batches =
          new Batches(
              config.batch(), config.maxBodyBytes(), batchLines(), json, System::currentTimeMillis);
      this.app = Javalin.create(this::configure);
    } catch (RuntimeException e) {
      closeQuietly(a, v, c, tokenizer);
      throw e;
    }
  }

  /**
   * Connects to Kafka, reads the adapter catalog and starts serving HTTP.
   *
   * @throws IllegalStateException when the port cannot be bound or Kafka cannot be reached
   */
  public static Gateway start(GatewayConfig config) {
    Gateway g = new Gateway(config);
    try {
      if (!g.catalog.awaitCaughtUp(Duration.ofSeconds(30))) {
        System.err.println(
            "gateway: the adapter catalog is not read to its end after 30 s; serving anyway"
                + " (adapters not read yet are answered 404)");
      }
      int resumed = g.batches.resume();
      if (resumed > 0) {
        System.err.println(
            "gateway: " + resumed + " batches go on from " + config.batch().dataDir());
      }
      g.app.start(config.host(), config.port());
    } catch (InterruptedException e) {
      g.close();
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while starting the gateway", e);
    } catch (RuntimeException e) {
      g.close();
      throw new IllegalStateException(
          "the gateway cannot serve on "
              + config.host()
              + ":"
              + config.port()
              + " ("
              + e.getMessage()
              + "): choose another port ("
              + GatewayConfig.PORT
              + ", 0 = any free one)",
          e);
    }
    if (g.template.notUsed() != null) {
      System.err.println(
          "gateway: the model's chat_template (tokenizer_config.json) is not used ("
              + g.template.notUsed()
              + "): chat messages use the gateway's own format (docs/gateway.md)");
    }
    return g;
  }

  /** {@code http://HOST:PORT}, with the bound port (a loopback address when bound to all). */
  /** The gateway's meters (what {@code GET /metrics} serves). */
  public io.micrometer.prometheusmetrics.PrometheusMeterRegistry meters() {
    return metrics.registry();
  }

  public String url() {
    String host = config.host();
    if (host.equals("0.0.0.0") || host.equals("::") || host.isEmpty()) {
      host = "127.0.0.1";
    }
    return "http://" + (host.contains(":") ? "[" + host + "]" : host) + ":" + app.port();
  }

  /** Whether the adapter catalog reader still runs ({@code GET /health}). */
  public boolean healthy() {
    return catalog.live();
  }

  @Override
  public void close() {
    try {
      if (app != null) {
        app.stop();
      }
    } finally {
      closeQuietly(batches, async, catalog, clients, tokenizer);
    }
  }

  private void configure(io.javalin.config.JavalinConfig c) {
    c.startup.showJavalinBanner = false;
    c.concurrency.useVirtualThreads = true; // a blocked request (waiting for its result) is cheap
    c.http.maxRequestSize = config.maxBodyBytes();
    c.http.compressionStrategy = CompressionStrategy.NONE; // SSE events must leave as written
    c.http.defaultContentType = "application/json";
    c.jetty.multipartConfig.maxFileSize(config.batch().maxFileBytes(), SizeUnit.BYTES);
    c.jetty.multipartConfig.maxTotalRequestSize(
        config.batch().maxFileBytes() + 64 * 1024, SizeUnit.BYTES);
    c.jetty.multipartConfig.maxInMemoryFileSize(1 << 20, SizeUnit.BYTES);
    // Java's default listen backlog is 50: a burst of more new connections than that (a
    // thousand streaming clients at once) saw some closed before a byte was answered
    c.jetty.modifyServer(
        server ->
            server.addEventListener(
                new org.eclipse.jetty.util.component.LifeCycle.Listener() {
                  @Override
                  public void lifeCycleStarting(org.eclipse.jetty.util.component.LifeCycle e) {
                    for (var connector : server.getConnectors()) {
                      if (connector instanceof org.eclipse.jetty.server.ServerConnector sc) {
                        sc.setAcceptQueueSize(ACCEPT_QUEUE);
                      }
                    }
                  }
                }));
    c.requestLogger.http(
        (ctx, ms) ->
            metrics.request(
                ctx.endpoints().list().isEmpty()
                    ? "unmatched"
                    : ctx.endpoints().list().getLast().path,
                ctx.statusCode(),
                ctx.attribute(TENANT_ATTRIBUTE),
                ms));
    c.routes.get(
        "/metrics",
        ctx ->
            ctx.status(200)
                .contentType("text/plain; version=0.0.4; charset=utf-8")
                .result(metrics.registry().scrape()));
    c.routes.post("/v1/completions", ctx -> complete(ctx, false));
    c.routes.post("/v1/chat/completions", ctx -> complete(ctx, true));
    c.routes.get("/v1/models", this::models);
    c.routes.get("/v1/models/<model>", this::model);
    c.routes.get("/v1/requests/{id}", this::asyncResult);
    c.routes.post("/v1/files", ctx -> sendJson(ctx, 200, batches.upload(ctx, authenticate(ctx))));
    c.routes.get("/v1/files", ctx -> sendJson(ctx, 200, batches.listFiles(authenticate(ctx))));
    c.routes.get(
        "/v1/files/{id}",
        ctx ->
            sendJson(
                ctx, 200, batches.fileJson(batches.file(ctx.pathParam("id"), authenticate(ctx)))));
    c.routes.get("/v1/files/{id}/content", this::fileContent);
    c.routes.delete(
        "/v1/files/{id}",
        ctx -> sendJson(ctx, 200, batches.delete(ctx.pathParam("id"), authenticate(ctx))));
    c.routes.post("/v1/batches", this::createBatch);
    c.routes.get("/v1/batches", this::listBatches);
    c.routes.get(
        "/v1/batches/{id}",
        ctx ->
            sendJson(ctx, 200, batches.get(ctx.pathParam("id"), authenticate(ctx)).toJson(false)));
    c.routes.post(
        "/v1/batches/{id}/cancel",
        ctx -> sendJson(ctx, 200, batches.cancel(ctx.pathParam("id"), authenticate(ctx))));
    for (String probe : List.of("/health", "/ready")) {
      c.routes.get(
          probe,
          ctx -> {
            boolean up = healthy();
            ctx.status(up ? 200 : 503).contentType("text/plain").result(up ? "UP" : "DOWN");
          });
    }
    // the process answers: a stuck catalog reader makes it unready, not dead (it retries)
    c.routes.get("/live", ctx -> ctx.status(200).contentType("text/plain").result("UP"));
    c.routes.exception(ApiError.class, (e, ctx) -> send(ctx, e));
    c.routes.exception(HttpResponseException.class, (e, ctx) -> send(ctx, httpError(ctx, e)));
    c.routes.exception(
        Exception.class,
        (e, ctx) -> {
          System.err.println("gateway: " + ctx.method() + " " + ctx.path() + " failed: " + e);
          send(
              ctx,
              new ApiError(
                  500,
                  ApiError.SERVER,
                  null,
                  "internal_error",
                  "the gateway failed on this request (" + e + "); try again"));
        });
  }

  // ---- handlers ----

  private void complete(Context ctx, boolean chat) throws Exception {
    String tenant = authenticate(ctx);
    checkDeclaredLength(ctx);
    ObjectNode body = CompletionRequest.parseBody(json, ctx.bodyAsBytes());
    Prepared p = prepare(tenant, body, chat);
    CompletionRequest req = p.body();
    admit(ctx, tenant, p.promptTokens() + (long) req.sampling().getMaxTokens());
    InferenceRequest.Builder request = p.request();
    Map<String, String> trace = Tracing.fromHeaders(ctx::header);
    if (trace.containsKey(Tracing.TRACEPARENT)) { // the caller's trace: the request's span under it
      request.setTraceContext(trace);
    }
    String requestId = request.getRequestId();
    Shape shape = p.shape();
    if (prefersAsync(ctx)) {
      if (req.stream()) {
        throw ApiError.badParam(
            "stream",
            "'stream: true' and 'Prefer: respond-async' exclude each other: stream the answer,"
                + " or fetch it later from GET /v1/requests/{id}");
      }
      accept(ctx, tenant, request, shape);
    } else if (req.stream()) {
      stream(ctx, request, requestId, shape, req.includeUsage());
    } else {
      InferenceResult r = await(request);
      ApiError e = errorOf(r);
      if (e != null) {
        throw e;
      }
      sendJson(ctx, 200, shape.completion(json, r));
    }
  }

  /** A checked completion request, ready to send: its body, the request and its answer's shape. */
  record Prepared(
      CompletionRequest body, InferenceRequest.Builder request, Shape shape, int promptTokens) {}

  /**
   * Reads and checks one completion ({@code chat}: chat completion) body of {@code tenant}: its
   * parameters, its model (404, 403) and its prompt's length (413); the request gets a fresh id.
   *
   * @throws ApiError what was wrong, as the HTTP answer would say it
   */
  Prepared prepare(String tenant, ObjectNode body, boolean chat) {
    CompletionRequest req =
        chat
            ? CompletionRequest.chat(body, config.defaultMaxTokens(), template)
            : CompletionRequest.completion(body, config.defaultMaxTokens());
    String adapterId = adapterOf(tenant, req.model());
    String text = req.promptText();
    var sampling = req.sampling();
    if (chat && template.usesModelTemplate()) {
      // the template writes the BOS itself; the tokenizer would add a second one
      if (!specialTokens.isEmpty()
          && !template.bosToken().isEmpty()
          && text.startsWith(template.bosToken())) {
        text = text.substring(template.bosToken().length());
      }
      if (!chatStopIds.isEmpty()) {
        List<Integer> stops = new java.util.ArrayList<>(sampling.getStopTokenIds());
        stops.addAll(chatStopIds);
        sampling =
            dev.lorastream.schemas.SamplingParams.newBuilder(sampling)
                .setStopTokenIds(stops)
                .build();
      }
    }
    List<Integer> ids =
        req.promptTokenIds() != null ? req.promptTokenIds() : tokenizer.encode(text);
    if (ids.size() > config.maxPromptTokens()) {
      throw new ApiError(
          413,
          ApiError.INVALID_REQUEST,
          chat ? "messages" : "prompt",
          "context_length_exceeded",
          "the prompt is "
              + ids.size()
              + " tokens, over this server's limit of "
              + config.maxPromptTokens()
              + " ("
              + GatewayConfig.MAX_PROMPT_TOKENS
              + "): shorten it");
    }
    String requestId = UUID.randomUUID().toString();
    InferenceRequest.Builder request =
        InferenceRequest.newBuilder()
            .setRequestId(requestId)
            .setTenantId(tenant)
            .setAdapterId(adapterId)
            .setPrompt(text)
            .setPromptTokenIds(ids)
            .setSampling(sampling);
    Shape shape =
        new Shape(
            chat,
            (chat ? "chatcmpl-" : "cmpl-") + requestId,
            System.currentTimeMillis() / 1000,
            req.model());
    return new Prepared(req, request, shape, ids.size());
  }

  /**
   * The id of {@code text} when the tokenizer reads it as one token (past its specials); else none.
   */
  private List<Integer> singleToken(String text) {
    if (text.isEmpty()) {
      return List.of();
    }
    List<Integer> ids = new java.util.ArrayList<>(tokenizer.encode(text));
    ids.removeAll(specialTokens);
    return ids.size() == 1 ? List.of(ids.getFirst()) : List.of();
  }

  // ---- Batch API (Batches) ----

  private Batches.Lines batchLines() {
    return new Batches.Lines() {
      @Override
      public Prepared prepare(String tenant, ObjectNode body, boolean chat) {
        return Gateway.this.prepare(tenant, body, chat);
      }

      @Override
      public CompletableFuture<InferenceResult> submit(
          InferenceRequest.Builder request, Duration timeout) {
        return clients.of(String.valueOf(request.getTenantId())).submit(request, timeout);
      }

      @Override
      public void cancel(String tenant, String requestId) {
        clients.of(tenant).cancel(requestId);
      }

      @Override
      public ApiError failure(Throwable t) {
        return Gateway.this.failure(t);
      }
    };
  }

  private void createBatch(Context ctx) throws IOException {
    String tenant = authenticate(ctx);
    checkDeclaredLength(ctx);
    sendJson(
        ctx, 200, batches.create(tenant, CompletionRequest.parseBody(json, ctx.bodyAsBytes())));
  }

  private void listBatches(Context ctx) {
    String tenant = authenticate(ctx);
    String limit = ctx.queryParam("limit");
    int n = 20;
    if (limit != null) {
      try {
        n = Integer.parseInt(limit);
      } catch (NumberFormatException e) {
        n = -1;
      }
      if (n < 1 || n > 100) {
        throw ApiError.badParam("limit", "'limit' must be an integer in [1, 100], got " + limit);
      }
    }
    sendJson(ctx, 200, batches.list(tenant, ctx.queryParam("after"), n));
  }

  private void fileContent(Context ctx) throws IOException {
    String tenant = authenticate(ctx);
    Batches.FileRecord f = batches.file(ctx.pathParam("id"), tenant);
    ctx.status(200).contentType("application/octet-stream");
    ctx.header("Content-Length", Long.toString(f.bytes()));
    try (var out = ctx.res().getOutputStream()) {
      java.nio.file.Files.copy(batches.content(f), out);
    }
  }

  private InferenceResult await(InferenceRequest.Builder request) throws InterruptedException {
    try {
      return clients
          .of(String.valueOf(request.getTenantId()))
          .submit(request, config.timeout())
          .get();
    } catch (ExecutionException e) {
      throw failure(e.getCause());
    }
  }

  /** Whether the request asks, with {@code Prefer: respond-async} (RFC 7240), for a 202. */
  private static boolean prefersAsync(Context ctx) {
    for (String h : Collections.list(ctx.req().getHeaders("Prefer"))) {
      for (String pref : h.split(",")) {
        if (pref.split(";")[0].trim().equalsIgnoreCase("respond-async")) {
          return true;
        }
      }
    }
    return false;
  }

  /**
   * {@code Prefer: respond-async}: sends the request and answers 202 at once with its id and a
   * {@code Location} to fetch the result from ({@link #asyncResult}).
   */
  private void accept(Context ctx, String tenant, InferenceRequest.Builder request, Shape shape) {
    CompletableFuture<InferenceResult> result =
        clients.of(tenant).submit(request, config.timeout());
    if (!async.add(shape.id(), tenant, shape, result)) {
      clients.of(tenant).cancel(String.valueOf(request.getRequestId()));
      throw new ApiError(
          503,
          ApiError.SERVER,
          null,
          "async_capacity",
          "this gateway keeps "
              + async.maxKept()
              + " respond-async requests already ("
              + GatewayConfig.ASYNC_MAX_KEPT
              + "): fetch their results, send without 'Prefer: respond-async', or retry later");
    }
    ctx.header("Location", "/v1/requests/" + shape.id());
    ctx.header("Preference-Applied", "respond-async");
    sendJson(ctx, 202, shape.pending(json));
  }

  /**
   * {@code GET /v1/requests/{id}}: a respond-async request's answer: 202 with {@code status:
   * in_progress} while it runs, then what the request would have been answered without the
   * preference (the completion, or its error), as long as it is kept.
   */
  private void asyncResult(Context ctx) {
    String tenant = authenticate(ctx);
    String id = ctx.pathParam("id");
    AsyncRequests.Entry e =
        async
            .get(id, tenant)
            .orElseThrow(
                () ->
                    new ApiError(
                        404,
                        ApiError.INVALID_REQUEST,
                        "id",
                        "request_not_found",
                        "no request '"
                            + id
                            + "' of this API key's tenant: results are kept "
                            + async.retention().toSeconds()
                            + " s after they finish ("
                            + GatewayConfig.ASYNC_RETENTION_MS
                            + "), and not across gateway restarts"));
    if (!e.result().isDone()) {
      ctx.header("Retry-After", "1");
      sendJson(ctx, 202, e.shape().pending(json));
      return;
    }
    InferenceResult r;
    try {
      r = e.result().join();
    } catch (CompletionException | CancellationException ex) {
      throw failure(ex);
    }
    ApiError err = errorOf(r);
    if (err != null) {
      throw err;
    }
    sendJson(ctx, 200, e.shape().completion(json, r));
  }

  private void models(Context ctx) {
    String tenant = authenticate(ctx);
    ObjectNode list = json.createObjectNode();
    list.put("object", "list");
    ArrayNode data = list.putArray("data");
    data.add(modelEntry(BASE_MODEL, startedEpochSec, "lorastream"));
    catalog.all().stream()
        .filter(a -> a.getOwnerTenant() == null || a.getOwnerTenant().equals(tenant))
        .sorted(Comparator.comparing(AdapterRecord::getAdapterId))
        .forEach(a -> data.add(modelEntry(a)));
    sendJson(ctx, 200, list);
  }

  private void model(Context ctx) {
    String tenant = authenticate(ctx);
    String id = ctx.pathParam("model");
    if (id.equals(BASE_MODEL)) {
      sendJson(ctx, 200, modelEntry(BASE_MODEL, startedEpochSec, "lorastream"));
      return;
    }
    if (JitAdapterName.isJit(id)) {
      throw new ApiError(
          404,
          ApiError.INVALID_REQUEST,
          "model",
          "model_not_found",
          "'" + id + "' is a just-in-time TENANT/NAME adapter: it is looked up on use, not listed");
    }
    adapterOf(tenant, id);
    sendJson(ctx, 200, modelEntry(catalog.get(id).orElseThrow(() -> notFound(id))));
  }

  private ObjectNode modelEntry(AdapterRecord a) {
    return modelEntry(
        a.getAdapterId(),
        a.getCreatedEpochMs() / 1000,
        a.getOwnerTenant() == null ? "public" : a.getOwnerTenant());
  }

  private ObjectNode modelEntry(String id, long created, String ownedBy) {
    ObjectNode m = json.createObjectNode();
    m.put("id", id);
    m.put("object", "model");
    m.put("created", created);
    m.put("owned_by", ownedBy);
    return m;
  }

  // ---- streaming ----

  /** Something {@link #stream} waits for: a stream event, or the failure of the request. */
  private sealed interface Next {
    record Event(StreamEvent event) implements Next {}

    record Failed(Throwable cause) implements Next {}
  }

  /**
   * Answers with server-sent events: the headers go out with the first generated text (so that a
   * request the pipeline refuses is still answered with its status and a JSON error), then one
   * {@code data:} event per chunk, a last one with the finish reason, one with the usage when
   * asked, and {@code data: [DONE]}. Chunks come from {@code lora.stream}, which is at most once:
   * the result, which is exactly once, has the whole text, and whatever the chunks missed is sent
   * from it before the last event. When the request is computed again (a {@link
   * StreamEvent.Restart}), the text already sent is not sent twice: the new attempt's text is
   * compared with it and only what goes beyond it is sent (with a seed, the same tokens come
   * again); if it differs, the stream ends with an error event. A write that fails (the client went
   * away) cancels the request.
   */
  private void stream(
      Context ctx,
      InferenceRequest.Builder request,
      String requestId,
      Shape shape,
      boolean includeUsage)
      throws InterruptedException {
    BlockingQueue<Next> queue = new LinkedBlockingQueue<>();
    LoraClient client = clients.of(String.valueOf(request.getTenantId()));
    client.stream(request, config.timeout())
        .subscribe(
            new Flow.Subscriber<>() {
              @Override
              public void onSubscribe(Flow.Subscription s) {
                s.request(Long.MAX_VALUE);
              }

              @Override
              public void onNext(StreamEvent e) {
                queue.add(new Next.Event(e));
              }

              @Override
              public void onError(Throwable t) {
                queue.add(new Next.Failed(t));
              }

              @Override
              public void onComplete() {}
            });
    SseWriter out = null;
    StringBuilder sent = new StringBuilder(); // text the client has
    StringBuilder attempt = new StringBuilder(); // text of the attempt being streamed
    metrics.streamOpened();
    try {
      while (true) {
        Next next = queue.poll(HEARTBEAT.toMillis(), TimeUnit.MILLISECONDS);
        if (next == null) {
          if (out != null) {
            out.comment("keep-alive");
          }
          continue;
        }
        switch (next) {
          case Next.Failed f -> {
            ApiError e = failure(f.cause());
            if (out == null) {
              throw e;
            }
            out.data(e.body());
            return;
          }
          case Next.Event(StreamEvent.Restart r) -> attempt.setLength(0);
          case Next.Event(StreamEvent.Chunk c) -> {
            attempt.append(c.chunk().getText());
            String fresh = beyond(sent, attempt);
            if (fresh == null) {
              out = started(ctx, out, shape);
              out.data(
                  new ApiError(
                          500,
                          ApiError.SERVER,
                          null,
                          "stream_diverged",
                          "the request was computed again after a failover and the new text"
                              + " differs from what was already sent; send the request again"
                              + " (with a seed to get the same text)")
                      .body());
              client.cancel(requestId);
              return;
            }
            if (!fresh.isEmpty()) {
              out = started(ctx, out, shape);
              out.data(shape.chunk(json, fresh, null));
              sent.append(fresh);
            }
          }
          case Next.Event(StreamEvent.Result res) -> {
            InferenceResult r = res.result();
            ApiError e = errorOf(r);
            if (e != null) {
              if (out == null) {
                throw e;
              }
              out.data(e.body());
              return;
            }
            out = started(ctx, out, shape);
            String text = r.getText();
            if (!text.startsWith(sent.toString())) {
              out.data(
                  new ApiError(
                          500,
                          ApiError.SERVER,
                          null,
                          "stream_diverged",
                          "the streamed text differs from the result (the request was computed"
                              + " again); send the request again")
                      .body());
              return;
            }
            String rest = text.substring(sent.length());
            if (!rest.isEmpty()) {
              out.data(shape.chunk(json, rest, null));
            }
            out.data(shape.chunk(json, "", finishReason(r)));
            if (includeUsage) {
              out.data(shape.usageChunk(json, r));
            }
            out.done();
            return;
          }
        }
      }
    } catch (IOException e) {
      // the client went away: stop computing for nobody
      client.cancel(requestId);
    } finally {
      metrics.streamClosed();
    }
  }

  /** The part of {@code attempt} the client does not have; null when the two disagree. */
  private static String beyond(CharSequence sent, CharSequence attempt) {
    int common = Math.min(sent.length(), attempt.length());
    if (!sent.subSequence(0, common).toString().equals(attempt.subSequence(0, common).toString())) {
      return null;
    }
    return attempt.length() > sent.length()
        ? attempt.subSequence(sent.length(), attempt.length()).toString()
        : "";
  }

  /** The writer of a started stream: sends the headers (and a chat's role chunk) the first time. */
  private SseWriter started(Context ctx, SseWriter out, Shape shape) throws IOException {
    if (out != null) {
      return out;
    }
    ctx.status(200);
    ctx.res().setContentType("text/event-stream; charset=utf-8");
    ctx.res().setHeader("Cache-Control", "no-cache");
    ctx.res().setHeader("X-Accel-Buffering", "no"); // nginx: do not buffer the events
    SseWriter w = new SseWriter(ctx.res().getOutputStream());
    if (shape.chat()) {
      w.data(shape.roleChunk(json));
    }
    return w;
  }

  /** Writes server-sent events, each flushed at once. */
  private final class SseWriter {
    private final OutputStream out;

    SseWriter(OutputStream out) {
      this.out = out;
    }

    void data(ObjectNode event) throws IOException {
      write("data: " + json.writeValueAsString(event) + "\n\n");
    }

    void comment(String text) throws IOException {
      write(": " + text + "\n\n");
    }

    void done() throws IOException {
      write("data: [DONE]\n\n");
    }

    private void write(String s) throws IOException {
      out.write(s.getBytes(StandardCharsets.UTF_8));
      out.flush();
    }
  }

  // ---- checks and errors ----

  /** The tenant of the request's API key; 401 without one or with an unknown one. */
  private String authenticate(Context ctx) {
    String h = ctx.header("Authorization");
    if (h == null || h.isBlank()) {
      throw new ApiError(
          401,
          ApiError.INVALID_REQUEST,
          null,
          "missing_api_key",
          "no API key: send it as the header 'Authorization: Bearer YOUR_KEY'");
    }
    String key = h.regionMatches(true, 0, "Bearer ", 0, 7) ? h.substring(7).trim() : null;
    if (key == null || key.isEmpty()) {
      throw new ApiError(
          401,
          ApiError.INVALID_REQUEST,
          null,
          "invalid_api_key",
          "the Authorization header is not 'Bearer YOUR_KEY'");
    }
    String tenant =
        config
            .keys()
            .tenantOf(key)
            .orElseThrow(
                () ->
                    new ApiError(
                        401,
                        ApiError.INVALID_REQUEST,
                        null,
                        "invalid_api_key",
                        "the API key is not valid: check it, or ask the operator for one"));
    ctx.attribute(TENANT_ATTRIBUTE, tenant); // for the request's meters
    return tenant;
  }

  /** 429 with {@code Retry-After} when the tenant is over a rate limit; else takes the cost. */
  private void admit(Context ctx, String tenant, long tokens) {
    limits
        .acquire(tenant, tokens)
        .ifPresent(
            refusal -> {
              long seconds = Math.max(1, (refusal.retryAfterMs() + 999) / 1000);
              metrics.rateLimited(tenant);
              ctx.header("Retry-After", Long.toString(seconds));
              throw new ApiError(
                  429,
                  ApiError.RATE_LIMIT,
                  null,
                  "rate_limit_exceeded",
                  "tenant '"
                      + tenant
                      + "' is over its "
                      + refusal.limit()
                      + " (this request counts 1 request and "
                      + tokens
                      + " tokens: prompt plus max_tokens); retry in "
                      + seconds
                      + " s, or send a smaller max_tokens");
            });
  }

  /** 413 at once when the declared body length is over the limit (before reading it). */
  private void checkDeclaredLength(Context ctx) {
    long length = ctx.req().getContentLengthLong();
    if (length > config.maxBodyBytes()) {
      throw bodyTooLarge(length);
    }
  }

  private ApiError bodyTooLarge(long length) {
    return new ApiError(
        413,
        ApiError.INVALID_REQUEST,
        null,
        "request_too_large",
        "the request body"
            + (length >= 0 ? " is " + length + " bytes," : " is")
            + " over this server's limit of "
            + config.maxBodyBytes()
            + " bytes ("
            + GatewayConfig.MAX_BODY_BYTES
            + ")");
  }

  /**
   * The adapter id to send for {@code model} (null for the base model); 404 for an adapter the
   * catalog does not have, 403 for another tenant's.
   */
  private String adapterOf(String tenant, String model) {
    if (model.equals(BASE_MODEL)) {
      return null;
    }
    if (JitAdapterName.isJit(model)) {
      if (!JitAdapterName.tenantPart(model).equals(tenant)) {
        throw forbidden(model);
      }
      return model; // the batcher checks the name, the consumer finds the folder
    }
    AdapterRecord a = catalog.get(model).orElseThrow(() -> notFound(model));
    if (a.getOwnerTenant() != null && !a.getOwnerTenant().equals(tenant)) {
      throw forbidden(model);
    }
    return model;
  }

  private static ApiError notFound(String model) {
    return new ApiError(
        404,
        ApiError.INVALID_REQUEST,
        "model",
        "model_not_found",
        "the model '"
            + model
            + "' does not exist: use 'base', one of the adapters GET /v1/models lists, or"
            + " TENANT/NAME for a just-in-time adapter of your tenant");
  }

  private static ApiError forbidden(String model) {
    return new ApiError(
        403,
        ApiError.PERMISSION,
        "model",
        "model_forbidden",
        "the model '"
            + model
            + "' belongs to another tenant: this API key may use 'base', its tenant's adapters and"
            + " public ones (GET /v1/models)");
  }

  /**
   * The HTTP error for a result the pipeline answered with an error, or null for a completion.
   * UNKNOWN_ADAPTER → 404, ADAPTER_FORBIDDEN → 403, INVALID_PARAMS → 400, PROMPT_TOO_LONG → 413,
   * DEADLINE_EXCEEDED → 504, DUPLICATE_REQUEST → 409, ADAPTER_INVALID, CANCELLED, INTERNAL → 500.
   */
  static ApiError errorOf(InferenceResult r) {
    if (r.getFinishReason() != FinishReason.ERROR) {
      return null;
    }
    String msg = r.getErrorMessage() == null ? "no detail" : r.getErrorMessage();
    String code = r.getErrorCode() == null ? "internal" : r.getErrorCode().name().toLowerCase();
    if (r.getErrorCode() == null) {
      return new ApiError(500, ApiError.SERVER, null, code, msg);
    }
    return switch (r.getErrorCode()) {
      case UNKNOWN_ADAPTER ->
          new ApiError(404, ApiError.INVALID_REQUEST, "model", "model_not_found", msg);
      case ADAPTER_FORBIDDEN -> new ApiError(403, ApiError.PERMISSION, "model", code, msg);
      case INVALID_PARAMS -> new ApiError(400, ApiError.INVALID_REQUEST, null, code, msg);
      case PROMPT_TOO_LONG ->
          new ApiError(413, ApiError.INVALID_REQUEST, null, "context_length_exceeded", msg);
      case DEADLINE_EXCEEDED ->
          new ApiError(
              504,
              ApiError.TIMEOUT,
              null,
              code,
              msg + " (the gateway's deadline: a shorter" + " max_tokens finishes sooner)");
      case DUPLICATE_REQUEST -> new ApiError(409, ApiError.INVALID_REQUEST, null, code, msg);
      case ADAPTER_INVALID, CANCELLED, INTERNAL ->
          new ApiError(500, ApiError.SERVER, null, code, msg);
    };
  }

  /** The HTTP error for a request that failed without a result. */
  private ApiError failure(Throwable t) {
    while ((t instanceof CompletionException || t instanceof ExecutionException)
        && t.getCause() != null) {
      t = t.getCause();
    }
    if (t instanceof TimeoutException) {
      return new ApiError(
          504,
          ApiError.TIMEOUT,
          null,
          "deadline_exceeded",
          "no result within the gateway's "
              + config.timeout().toMillis()
              + " ms ("
              + GatewayConfig.TIMEOUT_MS
              + "); try again, or with a smaller max_tokens");
    }
    if (t instanceof IllegalArgumentException) {
      return new ApiError(400, ApiError.INVALID_REQUEST, null, "invalid_request", t.getMessage());
    }
    if (t instanceof CancellationException) {
      return new ApiError(500, ApiError.SERVER, null, "cancelled", "the request was cancelled");
    }
    return new ApiError(
        503,
        ApiError.SERVER,
        null,
        "unavailable",
        "the request could not be sent or answered (" + t + "); try again");
  }

  /** Javalin's own refusals (no route, wrong method, body over the limit) in OpenAI's shape. */
  private ApiError httpError(Context ctx, HttpResponseException e) {
    return switch (e.getStatus()) {
      case 413 -> bodyTooLarge(-1);
      case 404 ->
          new ApiError(
              404,
              ApiError.INVALID_REQUEST,
              null,
              "unknown_url",
              "no route "
                  + ctx.method()
                  + " "
                  + ctx.path()
                  + ": this server has POST /v1/completions, POST /v1/chat/completions, GET"
                  + " /v1/models, /v1/files and /v1/batches (docs/gateway.md)");
      case 405 ->
          new ApiError(
              405,
              ApiError.INVALID_REQUEST,
              null,
              "method_not_allowed",
              ctx.method() + " is not allowed on " + ctx.path());
      default ->
          new ApiError(
              e.getStatus(),
              e.getStatus() >= 500 ? ApiError.SERVER : ApiError.INVALID_REQUEST,
              null,
              null,
              e.getMessage());
    };
  }

  private static String finishReason(InferenceResult r) {
    return r.getFinishReason() == FinishReason.LENGTH ? "length" : "stop";
  }

  private void send(Context ctx, ApiError e) {
    if (ctx.res().isCommitted()) {
      return; // a stream already started: its error went out as an event
    }
    if (e.status == 401) {
      ctx.header("WWW-Authenticate", "Bearer");
    }
    sendJson(ctx, e.status, e.body());
  }

  private void sendJson(Context ctx, int status, ObjectNode body) {
    try {
      ctx.status(status).contentType("application/json").result(json.writeValueAsBytes(body));
    } catch (IOException e) {
      throw new IllegalStateException("cannot write JSON: " + e, e);
    }
  }

  private Map<String, Object> serde() {
    return Map.of(LoraClientConfig.SCHEMA_REGISTRY_URL, config.schemaRegistryUrl());
  }

  private static void closeQuietly(AutoCloseable... all) {
    for (AutoCloseable c : all) {
      if (c == null) {
        continue;
      }
      try {
        c.close();
      } catch (Exception e) {
        System.err.println("gateway: closing " + c.getClass().getSimpleName() + ": " + e);
      }
    }
  }

  // ---- response shapes ----

  /** The fixed parts of one response: chat or text, its id, creation time and model. */
  record Shape(boolean chat, String id, long created, String model) {
    private ObjectNode head(ObjectMapper json, boolean chunk) {
      ObjectNode o = json.createObjectNode();
      o.put("id", id);
      o.put(
          "object",
          chat ? (chunk ? "chat.completion.chunk" : "chat.completion") : "text_completion");
      o.put("created", created);
      o.put("model", model);
      return o;
    }

    ObjectNode completion(ObjectMapper json, InferenceResult r) {
      ObjectNode o = head(json, false);
      ObjectNode choice = o.putArray("choices").addObject();
      choice.put("index", 0);
      if (chat) {
        ObjectNode m = choice.putObject("message");
        m.put("role", "assistant");
        m.put("content", r.getText());
      } else {
        choice.put("text", r.getText());
      }
      choice.putNull("logprobs");
      choice.put("finish_reason", finishReason(r));
      usage(o, r);
      return o;
    }

    /** What a respond-async request is answered while it runs. */
    ObjectNode pending(ObjectMapper json) {
      ObjectNode o = json.createObjectNode();
      o.put("id", id);
      o.put("object", "request");
      o.put("status", "in_progress");
      o.put("created", created);
      o.put("model", model);
      return o;
    }

    /** A chat stream's first chunk: the assistant's role. */
    ObjectNode roleChunk(ObjectMapper json) {
      ObjectNode o = head(json, true);
      ObjectNode choice = o.putArray("choices").addObject();
      choice.put("index", 0);
      ObjectNode delta = choice.putObject("delta");
      delta.put("role", "assistant");
      delta.put("content", "");
      choice.putNull("logprobs");
      choice.putNull("finish_reason");
      return o;
    }

    /** A chunk with {@code text} (chat: as the delta's content; "" with a finish reason: none). */
    ObjectNode chunk(ObjectMapper json, String text, String finishReason) {
      ObjectNode o = head(json, true);
      ObjectNode choice = o.putArray("choices").addObject();
      choice.put("index", 0);
      if (chat) {
        ObjectNode delta = choice.putObject("delta");
        if (finishReason == null) {
          delta.put("content", text);
        }
      } else {
        choice.put("text", text);
      }
      choice.putNull("logprobs");
      if (finishReason == null) {
        choice.putNull("finish_reason");
      } else {
        choice.put("finish_reason", finishReason);
      }
      return o;
    }

    /** The last chunk of {@code stream_options.include_usage}: no choices, the usage. */
    ObjectNode usageChunk(ObjectMapper json, InferenceResult r) {
      ObjectNode o = head(json, true);
      o.putArray("choices");
      usage(o, r);
      return o;
    }

    private static void usage(ObjectNode o, InferenceResult r) {
      ObjectNode u = o.putObject("usage");
      int prompt = r.getUsage().getPromptTokens();
      int completion = r.getUsage().getCompletionTokens();
      u.put("prompt_tokens", prompt);
      u.put("completion_tokens", completion);
      u.put("total_tokens", prompt + completion);
    }
  }
}
