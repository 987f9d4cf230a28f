package dev.lorastream.consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.lorastream.engine.config.ModelConfig;
import dev.lorastream.engine.lora.LoraAdapter;
import dev.lorastream.engine.testdata.AdapterGenerator;
import dev.lorastream.engine.testdata.ModelGenerator;
import dev.lorastream.schemas.AdapterRecord;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code http(s)://} adapter sources against a local HTTP server: a download is loaded like a local
 * adapter and reused while it matches the registration; a bad status, a body over the limit (by
 * Content-Length or counted while streaming), a checksum mismatch, a redirect out of http(s) and a
 * timeout are each refused naming the URL and what was wrong.
 */
class HttpAdapterSourceTest {
  static final String WEIGHTS = LoraAdapter.WEIGHTS_FILE;
  static final String CONFIG = "adapter_config.json";

  @TempDir static Path shared;
  static ModelConfig model;
  static Path adapter;
  static String sha;
  static long weightsSize;

  @TempDir Path tmp;
  HttpServer server;
  ExecutorService pool;
  String base;

  /** Path → a special answer; any other path under /a/ serves the adapter's file. */
  final Map<String, Answer> special = new ConcurrentHashMap<>();

  final Map<String, AtomicInteger> hits = new ConcurrentHashMap<>();
  final Map<String, AdapterRecord> records = new HashMap<>();

  @FunctionalInterface
  interface Answer {
    void answer(HttpExchange x) throws IOException;
  }

  @BeforeAll
  static void model() throws Exception {
    Path modelDir = shared.toRealPath().resolve("m");
    ModelGenerator.make("tiny", ModelGenerator.Options.defaults(), modelDir);
    model = ModelConfig.load(modelDir);
    Path out = shared.toRealPath().resolve("served");
    AdapterGenerator.make(modelDir, 1, AdapterGenerator.Options.defaults().withRanks(8), out);
    adapter = out.resolve(AdapterGenerator.adapterName(0));
    sha = CatalogAdapterSource.sha256(adapter.resolve(WEIGHTS));
    weightsSize = Files.size(adapter.resolve(WEIGHTS));
  }

  @BeforeEach
  void start() throws IOException {
    server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    pool = Executors.newCachedThreadPool();
    server.setExecutor(pool);
    server.createContext("/", this::serve);
    server.start();
    base = "http://127.0.0.1:" + server.getAddress().getPort();
  }

  @AfterEach
  void stop() {
    server.stop(0);
    pool.shutdownNow();
  }

  private void serve(HttpExchange x) throws IOException {
    String path = x.getRequestURI().getPath();
    hits.computeIfAbsent(path, k -> new AtomicInteger()).incrementAndGet();
    Answer a = special.get(path);
    if (a != null) {
      a.answer(x);
    } else if (path.startsWith("/a/")) {
      Path f = adapter.resolve(path.substring(3));
      if (Files.isRegularFile(f)) {
        byte[] body = Files.readAllBytes(f);
        x.sendResponseHeaders(200, body.length);
        try (OutputStream out = x.getResponseBody()) {
          out.write(body);
        }
        return;
      }
      x.sendResponseHeaders(404, -1);
    } else {
      x.sendResponseHeaders(404, -1);
    }
    x.close();
  }

  private CatalogAdapterSource source(long maxBytes, Duration timeout) {
    return new CatalogAdapterSource(
        (id, t) -> records.get(id),
        List.of(),
        maxBytes,
        model,
        "tiny",
        64,
        new HttpAdapterFetcher(tmp.resolve("downloads"), maxBytes, timeout));
  }

  private CatalogAdapterSource source() {
    return source(1L << 30, Duration.ofSeconds(5));
  }

  private void register(String id, String uri, String sha256, long createdEpochMs) {
    records.put(
        id,
        AdapterRecord.newBuilder()
            .setAdapterId(id)
            .setOwnerTenant(null)
            .setSourceUri(uri)
            .setSha256(sha256)
            .setRank(8)
            .setBaseModel("tiny")
            .setCreatedEpochMs(createdEpochMs)
            .build());
  }

  private static String refusal(CatalogAdapterSource s, String id) {
    return assertThrows(IOException.class, () -> s.load(id)).getMessage();
  }

  private int weightsFetches() {
    return hits.getOrDefault("/a/" + WEIGHTS, new AtomicInteger()).get();
  }

  @Test
  void aDownloadedAdapterLoadsAndIsReusedWhileTheRegistrationMatches() throws Exception {
    register("a", base + "/a", sha, 1);
    CatalogAdapterSource s = source();
    assertEquals(8, s.load("a").rank());
    assertEquals(8, s.load("a").rank());
    assertEquals(1, weightsFetches(), "the second load reuses the download");
  }

  @Test
  void theCacheFolderNamesTheAdapterReadablyAndApartFromLookalikes() {
    assertEquals("acme_sql_v2-", HttpAdapterFetcher.keyOf("acme/sql.v2").substring(0, 12));
    assertEquals(12 + 16, HttpAdapterFetcher.keyOf("acme/sql.v2").length());
    assertNotEquals(HttpAdapterFetcher.keyOf("a/b"), HttpAdapterFetcher.keyOf("a_b"));
    assertEquals(64 + 1 + 16, HttpAdapterFetcher.keyOf("x".repeat(300)).length());
  }

  @Test
  void aChangedRegistrationDownloadsAgain() throws Exception {
    register("a", base + "/a/", null, 1);
    CatalogAdapterSource s = source();
    s.load("a");
    s.load("a");
    assertEquals(1, weightsFetches(), "same size and createdEpochMs: reused");
    register("a", base + "/a/", null, 2);
    s.load("a");
    assertEquals(2, weightsFetches(), "a new createdEpochMs is a new registration");
  }

  @Test
  void aCachedDownloadThatNoLongerMatchesTheSha256IsFetchedAgain() throws Exception {
    register("a", base + "/a", sha, 1);
    CatalogAdapterSource s = source();
    s.load("a");
    Path cached = tmp.resolve("downloads").resolve(HttpAdapterFetcher.keyOf("a")).resolve(WEIGHTS);
    byte[] bytes = Files.readAllBytes(cached);
    bytes[bytes.length - 1] ^= 1; // same size, other content
    Files.write(cached, bytes);
    assertEquals(8, s.load("a").rank());
    assertEquals(2, weightsFetches());
  }

  @Test
  void aMissingFileIsRefusedWithItsHttpStatus() {
    register("a", base + "/gone", null, 1);
    assertEquals(
        "adapter 'a': " + base + "/gone/" + CONFIG + " answered HTTP 404; expected 200",
        refusal(source(), "a"));
  }

  @Test
  void weightsOverTheLimitAreRefusedByTheirContentLength() {
    register("a", base + "/a", null, 1);
    assertEquals(
        "adapter 'a': "
            + base
            + "/a/"
            + WEIGHTS
            + " is "
            + weightsSize
            + " bytes, over the limit 4096 (lorastream.adapters.max-bytes)",
        refusal(source(4096, Duration.ofSeconds(5)), "a"));
  }

  @Test
  void aChunkedBodyOverTheLimitIsRefusedWhileStreaming() {
    special.put(
        "/a/" + WEIGHTS,
        x -> {
          x.sendResponseHeaders(200, 0); // chunked: no Content-Length
          try (OutputStream out = x.getResponseBody()) {
            out.write(new byte[64 << 10]);
          } catch (IOException ignored) {
            // the client hung up at the limit
          }
        });
    register("a", base + "/a", null, 1);
    assertEquals(
        "adapter 'a': "
            + base
            + "/a/"
            + WEIGHTS
            + " sent more than 4096 bytes, over the limit 4096 (lorastream.adapters.max-bytes)",
        refusal(source(4096, Duration.ofSeconds(5)), "a"));
  }

  @Test
  void aChecksumMismatchIsRefused() {
    register("a", base + "/a", "00", 1);
    assertEquals(
        "adapter 'a': sha256 of "
            + base
            + "/a/"
            + WEIGHTS
            + " is "
            + sha
            + " but the catalog says 00",
        refusal(source(), "a"));
  }

  @Test
  void aRedirectToFileIsRefused() {
    special.put("/r/" + CONFIG, redirectTo("file:///etc/passwd"));
    register("a", base + "/r", null, 1);
    assertEquals(
        "adapter 'a': "
            + base
            + "/r/"
            + CONFIG
            + " redirects to file:///etc/passwd, which is not http(s); refused",
        refusal(source(), "a"));
  }

  @Test
  void redirectsWithinHttpAreFollowed() throws Exception {
    special.put("/moved/" + CONFIG, redirectTo("/a/" + CONFIG));
    special.put("/moved/" + WEIGHTS, redirectTo(base + "/a/" + WEIGHTS));
    register("a", base + "/moved", sha, 1);
    assertEquals(8, source().load("a").rank());
  }

  @Test
  void aServerThatDoesNotAnswerTimesOut() {
    special.put(
        "/slow/" + CONFIG,
        x -> {
          try {
            Thread.sleep(5_000);
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          }
          x.close();
        });
    register("a", base + "/slow", null, 1);
    assertEquals(
        "adapter 'a': "
            + base
            + "/slow/"
            + CONFIG
            + " timed out after 300 ms (lorastream.adapters.download-timeout-ms)",
        refusal(source(1L << 30, Duration.ofMillis(300)), "a"));
  }

  @Test
  void aServerThatStopsSendingMidBodyTimesOut() {
    special.put(
        "/stall/" + CONFIG,
        x -> {
          x.sendResponseHeaders(200, 0);
          OutputStream out = x.getResponseBody();
          out.write(new byte[10]);
          out.flush();
          try {
            Thread.sleep(5_000);
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          }
          x.close();
        });
    register("a", base + "/stall", null, 1);
    assertEquals(
        "adapter 'a': "
            + base
            + "/stall/"
            + CONFIG
            + " stopped sending: nothing arrived for 300 ms after 10 bytes"
            + " (lorastream.adapters.download-timeout-ms)",
        refusal(source(1L << 30, Duration.ofMillis(300)), "a"));
  }

  private static Answer redirectTo(String location) {
    return x -> {
      x.getResponseHeaders().add("Location", location);
      x.sendResponseHeaders(302, -1);
      x.close();
    };
  }
}
