package dev.lorastream.consumer;

import dev.lorastream.engine.lora.AdapterConfig;
import dev.lorastream.engine.lora.LoraAdapter;
import dev.lorastream.schemas.AdapterRecord;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.Map;
import java.util.Objects;
import java.util.OptionalLong;
import java.util.Properties;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;

/**
 * Downloads an adapter named by an {@code http://} or {@code https://} source URI into a private
 * cache folder, from which it is loaded like a local one. The two files are fetched at {@code
 * <uri>/adapter_config.json} and {@code <uri>/adapter_model.safetensors}.
 *
 * <ul>
 *   <li>Each request has a timeout: to connect, until the answer's headers, and between body bytes
 *       (a server that stops sending is cut off by a {@link StallWatchdog}); only 200 is accepted.
 *   <li>Redirects are followed by hand, at most {@link #MAX_REDIRECTS}, and only to {@code http} or
 *       {@code https}: a {@code Location} of any other scheme (such as {@code file:}) is refused.
 *   <li>A body larger than the limit ({@code lorastream.adapters.max-bytes} for the weights, {@link
 *       #CONFIG_MAX_BYTES} for the config) is refused from its {@code Content-Length} before it is
 *       read, and, since the header may be absent (chunked) or lie, by counting while streaming:
 *       the download stops at the first byte over.
 *   <li>When the record has a sha256, the weights must match it.
 * </ul>
 *
 * A download lives in {@code <download-dir>/<id>-<hash of the id>} ({@link #keyOf}) with a {@code
 * source.properties} naming what it was fetched for. It is reused only when that still matches the
 * record: same URI and {@code createdEpochMs}, same weights size, and, when the record has a
 * sha256, the weights still hash to it. A changed registration (new URI, checksum or registration
 * time) therefore downloads again. Downloads are written to a fresh folder and moved into place, so
 * a failed one never replaces a good one. Thread-safe; one download at a time per adapter.
 */
final class HttpAdapterFetcher {

  /** Largest adapter_config.json accepted. */
  static final long CONFIG_MAX_BYTES = 1 << 20;

  /** Most redirects followed for one file. */
  static final int MAX_REDIRECTS = 5;

  private static final String MARKER = "source.properties";

  private static final FileAttribute<?> OWNER_ONLY =
      PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------"));

  private Path downloadDir; // null until first needed, when none is configured
  private final long maxBytes;
  private final Duration timeout;
  private final HttpClient client;
  private final Map<String, Object> locks = new ConcurrentHashMap<>();

  /**
   * @param downloadDir the cache folder, created (owner-only) when missing; null: a fresh temporary
   *     folder, made at the first download
   * @param maxBytes largest weights file accepted ({@code lorastream.adapters.max-bytes})
   * @param timeout connect and answer timeout of each request
   */
  HttpAdapterFetcher(Path downloadDir, long maxBytes, Duration timeout) {
    this.downloadDir = downloadDir == null ? null : downloadDir.toAbsolutePath().normalize();
    this.maxBytes = maxBytes;
    this.timeout = timeout;
    this.client =
        HttpClient.newBuilder()
            .connectTimeout(timeout)
            .followRedirects(HttpClient.Redirect.NEVER)
            .build();
  }

  /** The cache folder: the root that downloaded adapters are confined to. */
  synchronized Path downloadDir() {
    if (downloadDir == null) {
      downloadDir = defaultDownloadDir();
    }
    return downloadDir;
  }

  /** True for the schemes this fetcher serves. */
  static boolean isHttp(URI uri) {
    return "http".equalsIgnoreCase(uri.getScheme()) || "https".equalsIgnoreCase(uri.getScheme());
  }

  /**
   * The local folder holding the adapter of {@code rec}: a matching earlier download, or a new one.
   *
   * @throws IOException naming the URL and what was wrong (HTTP status, too large, checksum
   *     mismatch, timeout, redirect refused)
   */
  Path fetch(String adapterId, AdapterRecord rec, URI source)
      throws IOException, InterruptedException {
    Path root = downloadDir();
    if (!Files.isDirectory(root)) {
      Files.createDirectories(root, OWNER_ONLY);
    }
    String key = keyOf(adapterId);
    synchronized (locks.computeIfAbsent(key, k -> new Object())) {
      Path dir = root.resolve(key);
      if (matches(dir, rec)) {
        return dir;
      }
      Path part = Files.createTempDirectory(root, key + ".part-");
      try {
        String base = source.toString().replaceAll("/+$", "");
        URI config = URI.create(base + "/" + AdapterConfig.FILE_NAME);
        URI weights = URI.create(base + "/" + LoraAdapter.WEIGHTS_FILE);
        download(adapterId, config, part.resolve(AdapterConfig.FILE_NAME), CONFIG_MAX_BYTES);
        Path w = part.resolve(LoraAdapter.WEIGHTS_FILE);
        String sha = download(adapterId, weights, w, maxBytes);
        if (rec.getSha256() != null && !sha.equalsIgnoreCase(rec.getSha256())) {
          throw new IOException(
              "adapter '"
                  + adapterId
                  + "': sha256 of "
                  + weights
                  + " is "
                  + sha
                  + " but the catalog says "
                  + rec.getSha256());
        }
        writeMarker(part, rec, Files.size(w));
        deleteTree(dir);
        Files.move(part, dir, StandardCopyOption.ATOMIC_MOVE);
        return dir;
      } finally {
        deleteTree(part);
      }
    }
  }

  /** True when {@code dir} holds a download made for this very registration. */
  private static boolean matches(Path dir, AdapterRecord rec) throws IOException {
    Path marker = dir.resolve(MARKER);
    Path weights = dir.resolve(LoraAdapter.WEIGHTS_FILE);
    if (!Files.isRegularFile(marker) || !Files.isRegularFile(weights)) {
      return false;
    }
    Properties p = new Properties();
    try (InputStream in = Files.newInputStream(marker)) {
      p.load(in);
    }
    boolean same =
        rec.getSourceUri().equals(p.getProperty("uri"))
            && Long.toString(rec.getCreatedEpochMs()).equals(p.getProperty("createdEpochMs"))
            && Objects.equals(rec.getSha256(), p.getProperty("sha256"))
            && Long.toString(Files.size(weights)).equals(p.getProperty("size"));
    return same
        && (rec.getSha256() == null
            || CatalogAdapterSource.sha256(weights).equalsIgnoreCase(rec.getSha256()));
  }

  private static void writeMarker(Path dir, AdapterRecord rec, long size) throws IOException {
    Properties p = new Properties();
    p.setProperty("uri", rec.getSourceUri());
    p.setProperty("createdEpochMs", Long.toString(rec.getCreatedEpochMs()));
    p.setProperty("size", Long.toString(size));
    if (rec.getSha256() != null) {
      p.setProperty("sha256", rec.getSha256());
    }
    try (OutputStream out = Files.newOutputStream(dir.resolve(MARKER))) {
      p.store(out, "what this download was fetched for; reused only while it matches");
    }
  }

  /**
   * Streams {@code url} (following http(s) redirects) into {@code to}, refusing more than {@code
   * limit} bytes.
   *
   * @return the hex sha256 of what was written
   */
  private String download(String adapterId, URI url, Path to, long limit)
      throws IOException, InterruptedException {
    URI at = url;
    for (int hops = 0; ; hops++) {
      HttpResponse<InputStream> resp = send(adapterId, url, at);
      int status = resp.statusCode();
      if (status == 301 || status == 302 || status == 303 || status == 307 || status == 308) {
        resp.body().close();
        at = redirect(adapterId, url, at, resp, hops);
        continue;
      }
      try (InputStream in = resp.body()) {
        if (status != 200) {
          throw failure(adapterId, url, at, "answered HTTP " + status + "; expected 200");
        }
        OptionalLong length = resp.headers().firstValueAsLong("Content-Length");
        if (length.isPresent() && length.getAsLong() > limit) {
          throw failure(
              adapterId, url, at, "is " + length.getAsLong() + " bytes" + overLimit(limit));
        }
        return copy(adapterId, url, at, in, to, limit);
      }
    }
  }

  private HttpResponse<InputStream> send(String adapterId, URI url, URI at)
      throws IOException, InterruptedException {
    HttpRequest req = HttpRequest.newBuilder(at).timeout(timeout).GET().build();
    try {
      return client.send(req, HttpResponse.BodyHandlers.ofInputStream());
    } catch (HttpTimeoutException e) {
      throw failure(
          adapterId,
          url,
          at,
          "timed out after "
              + timeout.toMillis()
              + " ms ("
              + ConsumerSettings.ADAPTER_DOWNLOAD_TIMEOUT_MS
              + ")");
    } catch (IOException e) {
      throw failure(adapterId, url, at, "could not be fetched: " + e);
    }
  }

  private static URI redirect(
      String adapterId, URI url, URI at, HttpResponse<InputStream> resp, int hops)
      throws IOException {
    String location =
        resp.headers()
            .firstValue("Location")
            .orElseThrow(
                () ->
                    failure(
                        adapterId, url, at, "answered " + resp.statusCode() + " without Location"));
    URI next;
    try {
      next = at.resolve(location);
    } catch (IllegalArgumentException e) {
      throw failure(adapterId, url, at, "redirects to a bad Location '" + location + "'");
    }
    if (!isHttp(next)) {
      throw failure(adapterId, url, at, "redirects to " + next + ", which is not http(s); refused");
    }
    if (hops + 1 > MAX_REDIRECTS) {
      throw failure(adapterId, url, at, "redirects more than " + MAX_REDIRECTS + " times");
    }
    return next;
  }

  /**
   * Copies the body to {@code to}, stopping at the first byte over {@code limit} or when nothing
   * arrives for the timeout.
   */
  private String copy(String adapterId, URI url, URI at, InputStream in, Path to, long limit)
      throws IOException {
    MessageDigest md;
    try {
      md = MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
    long count = 0;
    try (StallWatchdog watchdog = new StallWatchdog(in, timeout);
        OutputStream out = Files.newOutputStream(to, StandardOpenOption.CREATE_NEW)) {
      byte[] buf = new byte[1 << 16];
      try {
        for (int n; (n = in.read(buf)) > 0; ) {
          watchdog.progress();
          count += n;
          if (count > limit) {
            throw failure(
                adapterId, url, at, "sent more than " + limit + " bytes" + overLimit(limit));
          }
          md.update(buf, 0, n);
          out.write(buf, 0, n);
        }
      } catch (IOException e) {
        if (watchdog.fired()) {
          throw failure(
              adapterId,
              url,
              at,
              "stopped sending: nothing arrived for "
                  + timeout.toMillis()
                  + " ms after "
                  + count
                  + " bytes ("
                  + ConsumerSettings.ADAPTER_DOWNLOAD_TIMEOUT_MS
                  + ")");
        }
        throw e;
      }
    }
    return HexFormat.of().formatHex(md.digest());
  }

  private static String overLimit(long limit) {
    return limit == CONFIG_MAX_BYTES
        ? ", over the limit " + limit + " for " + AdapterConfig.FILE_NAME
        : ", over the limit " + limit + " (" + ConsumerSettings.ADAPTER_MAX_BYTES + ")";
  }

  private static IOException failure(String adapterId, URI url, URI at, String what) {
    String where = at.equals(url) ? url.toString() : url + " (redirected to " + at + ")";
    return new IOException("adapter '" + adapterId + "': " + where + " " + what);
  }

  /** A default cache folder: a fresh owner-only temporary folder. */
  private static Path defaultDownloadDir() {
    try {
      return Files.createTempDirectory("lorastream-adapters-", OWNER_ONLY);
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(
          "cannot create a temporary adapter download folder", e);
    }
  }

  /**
   * The cache folder name of an adapter: its id with anything but {@code A-Z a-z 0-9 _ -} made
   * {@code _} (at most 64 characters, so messages naming the folder stay readable), then a hash of
   * the whole id, so that two ids never share a folder.
   */
  static String keyOf(String adapterId) {
    String readable = adapterId.replaceAll("[^A-Za-z0-9_-]", "_");
    readable = readable.substring(0, Math.min(64, readable.length()));
    try {
      byte[] h =
          MessageDigest.getInstance("SHA-256").digest(adapterId.getBytes(StandardCharsets.UTF_8));
      return readable + "-" + HexFormat.of().formatHex(h, 0, 8);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  private static void deleteTree(Path dir) throws IOException {
    if (!Files.exists(dir)) {
      return;
    }
    try (Stream<Path> s = Files.walk(dir)) {
      for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    }
  }
}
