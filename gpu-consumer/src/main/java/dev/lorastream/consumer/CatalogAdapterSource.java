package dev.lorastream.consumer;

import dev.lorastream.engine.config.ModelConfig;
import dev.lorastream.engine.lora.AdapterSource;
import dev.lorastream.engine.lora.LoraAdapter;
import dev.lorastream.schemas.AdapterRecord;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.NoSuchElementException;

/**
 * Loads adapters named in the catalog from their source URI. Only {@code file://} URIs under the
 * configured roots are accepted (after normalisation, so {@code ..} cannot escape), the weights
 * file must be under the size limit, and when the record carries a sha256 it must match {@code
 * adapter_model.safetensors}.
 */
public final class CatalogAdapterSource implements AdapterSource {
  private final AdapterCatalog catalog;
  private final List<Path> roots;
  private final long maxBytes;
  private final ModelConfig model;
  private final int maxRank;

  public CatalogAdapterSource(
      AdapterCatalog catalog, List<Path> roots, long maxBytes, ModelConfig model, int maxRank) {
    this.catalog = catalog;
    this.roots = List.copyOf(roots);
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
    if (Files.isRegularFile(weights) && Files.size(weights) > maxBytes) {
      throw new IllegalArgumentException(
          "adapter '"
              + adapterId
              + "': "
              + weights
              + " has "
              + Files.size(weights)
              + " bytes, over the limit "
              + maxBytes
              + " ("
              + ConsumerSettings.ADAPTER_MAX_BYTES
              + ")");
    }
    if (rec.getSha256() != null && Files.isRegularFile(weights)) {
      String actual = sha256(weights);
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
    return LoraAdapter.load(dir, model, maxRank);
  }

  /**
   * The adapter directory of a source URI, refused unless it is a file:// URI under a configured
   * root.
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
