package dev.lorastream.consumer;

import dev.lorastream.engine.config.ModelConfig;
import dev.lorastream.engine.io.FileConfinement;
import dev.lorastream.engine.io.ModelFormatException;
import dev.lorastream.engine.lora.AdapterSource;
import dev.lorastream.engine.lora.LoraAdapter;
import dev.lorastream.schemas.AdapterRecord;
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
 * Loads adapters named in the catalog from their source URI. Only {@code file://} URIs under the
 * configured roots are accepted: the URI is normalised (so {@code ..} cannot escape), and the real
 * path of the adapter folder and of every file read (every symbolic link resolved) must lie under
 * the real path of a root, so a link cannot lead out of the roots either (a link to another place
 * inside them is fine). Only regular files are read: a FIFO, a device or a directory in place of a
 * file is refused by name. The weights file must be under the size limit, and when the record
 * carries a sha256 it must match {@code adapter_model.safetensors}.
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
  private final int maxRank;

  public CatalogAdapterSource(
      AdapterCatalog catalog, List<Path> roots, long maxBytes, ModelConfig model, int maxRank) {
    this(catalog::get, roots, maxBytes, model, maxRank);
  }

  CatalogAdapterSource(
      Records catalog, List<Path> roots, long maxBytes, ModelConfig model, int maxRank) {
    this.catalog = catalog;
    this.roots = List.copyOf(roots);
    this.files = FileConfinement.within(this.roots, ConsumerSettings.ADAPTER_ROOTS);
    this.maxBytes = maxBytes;
    this.model = model;
    this.maxRank = maxRank;
  }

  @Override
  public LoraAdapter load(String adapterId) throws Exception {
    AdapterRecord rec = catalog.get(adapterId, Duration.ofSeconds(5));
    if (rec == null) {
      throw new NoSuchElementException(
          "adapter '" + adapterId + "' is not in the catalog (lora.adapters)");
    }
    Path dir = resolve(adapterId, rec.getSourceUri());
    Path weights = dir.resolve(LoraAdapter.WEIGHTS_FILE);
    if (Files.exists(weights, LinkOption.NOFOLLOW_LINKS)) { // when missing, the load says so
      try (FileChannel ch = open(adapterId, weights)) {
        checkSizeAndSha256(adapterId, rec, weights, ch);
      }
    }
    return LoraAdapter.load(dir, model, maxRank, files);
  }

  /** The weights file opened through the roots; refusals name the adapter. */
  private FileChannel open(String adapterId, Path weights) {
    try {
      return files.open(weights, "expected the adapter's PEFT weights there");
    } catch (ModelFormatException e) {
      throw new IllegalArgumentException("adapter '" + adapterId + "': " + e.getMessage(), e);
    }
  }

  private void checkSizeAndSha256(String adapterId, AdapterRecord rec, Path weights, FileChannel ch)
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
    if (rec.getSha256() != null) {
      String actual = sha256(Channels.newInputStream(ch));
      if (!actual.equalsIgnoreCase(rec.getSha256())) {
        throw new IllegalArgumentException(
            "adapter '"
                + adapterId
                + "': sha256 of "
                + weights
                + " is "
                + actual
                + " but the catalog says "
                + rec.getSha256());
      }
    }
  }

  /**
   * The adapter directory of a source URI, refused unless it is a file:// URI under a configured
   * root and, when it exists, its real path (links resolved) lies under the real path of a root.
   */
  Path resolve(String adapterId, String sourceUri) {
    URI uri;
    try {
      uri = URI.create(sourceUri);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(
          "adapter '" + adapterId + "': bad source URI '" + sourceUri + "'");
    }
    if (!"file".equals(uri.getScheme())) {
      throw new IllegalArgumentException(
          "adapter '"
              + adapterId
              + "': source URI '"
              + sourceUri
              + "' is not file://; only local files under "
              + roots
              + " are served");
    }
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
