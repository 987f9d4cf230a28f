package dev.lorastream.consumer;

import dev.lorastream.engine.config.ModelConfig;
import dev.lorastream.engine.io.FileConfinement;
import dev.lorastream.engine.io.ModelFormatException;
import dev.lorastream.engine.lora.AdapterSource;
import dev.lorastream.engine.lora.LoraAdapter;
import dev.lorastream.schemas.AdapterRecord;
import dev.lorastream.schemas.JitAdapterName;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.NoSuchElementException;

/**
 * Loads adapters named in the catalog from their source URI, or named just in time as {@code
 * TENANT/NAME} ({@link JitAdapterResolver}).
 *
 * <p>{@code file://} URIs must lie under the configured roots: the URI is normalised (so {@code ..}
 * cannot escape), and the real path of the adapter folder and of every file read (every symbolic
 * link resolved) must lie under the real path of a root, so a link cannot lead out of the roots
 * either (a link to another place inside them is fine). Only regular files are read: a FIFO, a
 * device or a directory in place of a file is refused by name. {@code http://} and {@code https://}
 * URIs are downloaded into a private cache folder first ({@link HttpAdapterFetcher}) and loaded
 * from there the same way. The weights file must be under the size limit, and when the record
 * carries a sha256 it must match {@code adapter_model.safetensors}.
 *
 * <p>The record must be for the served model ({@code baseModel} equal to {@code
 * lorastream.model.name}) and its {@code rank} must be the loaded adapter's {@code r}. A
 * just-in-time adapter has no record: its {@code base_model_name_or_path}, when present, must end
 * in the model name (only the last path segment is compared, since it is often a hub id such as
 * {@code org/name} or a local path).
 *
 * <p>Failures: an adapter that does not exist throws {@link NoSuchElementException}
 * (UNKNOWN_ADAPTER); anything else wrong throws another exception (ADAPTER_INVALID) naming the
 * adapter and what was wrong.
 */
public final class CatalogAdapterSource implements AdapterSource {

  /** Where adapter records come from: the catalog, or a test's map. */
  @FunctionalInterface
  interface Records {
    /** The record of {@code adapterId}, waiting up to {@code timeout}; null when absent. */
    AdapterRecord get(String adapterId, Duration timeout) throws InterruptedException;
  }

  private final Records catalog;
  private final List<Path> roots;
  private final FileConfinement files;
  private final long maxBytes;
  private final ModelConfig model;
  private final String modelName;
  private final int maxRank;
  private final HttpAdapterFetcher http;
  private final JitAdapterResolver jit;

  /** The source of a consumer with settings {@code s}, serving {@code model}. */
  public CatalogAdapterSource(
      AdapterCatalog catalog, ConsumerSettings s, ModelConfig model, int maxRank) {
    this(
        catalog::get,
        s.adapterRoots(),
        s.adapterMaxBytes(),
        model,
        s.modelName(),
        maxRank,
        new HttpAdapterFetcher(
            s.adapterDownloadDir(),
            s.adapterMaxBytes(),
            Duration.ofMillis(s.adapterDownloadTimeoutMs())));
  }

  CatalogAdapterSource(
      Records catalog,
      List<Path> roots,
      long maxBytes,
      ModelConfig model,
      String modelName,
      int maxRank,
      HttpAdapterFetcher http) {
    this.catalog = catalog;
    this.roots = List.copyOf(roots);
    this.files = FileConfinement.within(this.roots, ConsumerSettings.ADAPTER_ROOTS);
    this.maxBytes = maxBytes;
    this.model = model;
    this.modelName = modelName;
    this.maxRank = maxRank;
    this.http = http;
    this.jit = new JitAdapterResolver(this.roots, files);
  }

  @Override
  public LoraAdapter load(String adapterId) throws Exception {
    if (JitAdapterName.isJit(adapterId)) {
      JitAdapterResolver.Located at = jit.resolve(adapterId);
      LoraAdapter a = loadChecked(adapterId, at.dir(), at.files(), null);
      BaseModelCheck.jit(adapterId, a.config().baseModel(), modelName);
      return a;
    }
    AdapterRecord rec = catalog.get(adapterId, Duration.ofSeconds(5));
    if (rec == null) {
      throw new NoSuchElementException(
          "adapter '" + adapterId + "' is not in the catalog (lora.adapters)");
    }
    BaseModelCheck.record(adapterId, rec.getBaseModel(), modelName);
    URI uri = parse(adapterId, rec.getSourceUri());
    LoraAdapter a;
    if (HttpAdapterFetcher.isHttp(uri)) {
      Path dir = http.fetch(adapterId, rec, uri); // checksum checked there
      FileConfinement downloads =
          FileConfinement.within(
              List.of(http.downloadDir()), ConsumerSettings.ADAPTER_DOWNLOAD_DIR);
      a = loadChecked(adapterId, dir, downloads, null);
    } else {
      a = loadChecked(adapterId, resolve(adapterId, uri), files, rec.getSha256());
    }
    BaseModelCheck.rank(adapterId, rec.getRank(), a);
    return a;
  }

  /** Checks the weights' size (and sha256 when given), then loads the adapter through {@code f}. */
  private LoraAdapter loadChecked(String adapterId, Path dir, FileConfinement f, String sha256)
      throws IOException {
    Path weights = dir.resolve(LoraAdapter.WEIGHTS_FILE);
    if (Files.exists(weights, LinkOption.NOFOLLOW_LINKS)) { // when missing, the load says so
      try (FileChannel ch = open(adapterId, weights, f)) {
        checkSizeAndSha256(adapterId, sha256, weights, ch);
      }
    }
    return LoraAdapter.load(dir, model, maxRank, f);
  }

  /** The weights file opened through {@code f}; refusals name the adapter. */
  private static FileChannel open(String adapterId, Path weights, FileConfinement f) {
    try {
      return f.open(weights, "expected the adapter's PEFT weights there");
    } catch (ModelFormatException e) {
      throw new IllegalArgumentException("adapter '" + adapterId + "': " + e.getMessage(), e);
    }
  }

  private void checkSizeAndSha256(String adapterId, String sha256, Path weights, FileChannel ch)
      throws IOException {
    long size = ch.size();
    if (size > maxBytes) {
      throw new IllegalArgumentException(
          "adapter '"
              + adapterId
              + "': "
              + weights
              + " has "
              + size
              + " bytes, over the limit "
              + maxBytes
              + " ("
              + ConsumerSettings.ADAPTER_MAX_BYTES
              + ")");
    }
    if (sha256 != null) {
      String actual = sha256(Channels.newInputStream(ch));
      if (!actual.equalsIgnoreCase(sha256)) {
        throw new IllegalArgumentException(
            "adapter '"
                + adapterId
                + "': sha256 of "
                + weights
                + " is "
                + actual
                + " but the catalog says "
                + sha256);
      }
    }
  }

  /** The source URI, refused unless it is {@code file://}, {@code http://} or {@code https://}. */
  private URI parse(String adapterId, String sourceUri) {
    URI uri;
    try {
      uri = URI.create(sourceUri);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(
          "adapter '" + adapterId + "': bad source URI '" + sourceUri + "'");
    }
    if (!"file".equals(uri.getScheme()) && !HttpAdapterFetcher.isHttp(uri)) {
      throw new IllegalArgumentException(
          "adapter '"
              + adapterId
              + "': source URI '"
              + sourceUri
              + "' is neither file:// nor http(s)://; local files are served only from under "
              + roots);
    }
    return uri;
  }

  /**
   * The adapter directory of a file:// URI, refused unless it lies under a configured root and,
   * when it exists, its real path (links resolved) lies under the real path of a root.
   */
  private Path resolve(String adapterId, URI uri) {
    Path dir = Path.of(uri).toAbsolutePath().normalize();
    for (Path root : roots) {
      if (dir.startsWith(root)) {
        if (Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) { // when missing, the load says so
          try {
            files.realPath(dir, "expected the adapter's folder there");
          } catch (ModelFormatException e) {
            throw new IllegalArgumentException("adapter '" + adapterId + "': " + e.getMessage(), e);
          }
        }
        return dir;
      }
    }
    throw new IllegalArgumentException(
        "adapter '"
            + adapterId
            + "': "
            + dir
            + " is outside the adapter roots "
            + roots
            + " ("
            + ConsumerSettings.ADAPTER_ROOTS
            + ")");
  }

  /**
   * Hex SHA-256 of a file (what {@code AdapterRecord.sha256} holds for adapter_model.safetensors).
   */
  public static String sha256(Path file) throws IOException {
    try (InputStream in = Files.newInputStream(file)) {
      return sha256(in);
    }
  }

  private static String sha256(InputStream in) throws IOException {
    try {
      MessageDigest md = MessageDigest.getInstance("SHA-256");
      byte[] buf = new byte[1 << 16];
      for (int n; (n = in.read(buf)) > 0; ) {
        md.update(buf, 0, n);
      }
      return HexFormat.of().formatHex(md.digest());
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
