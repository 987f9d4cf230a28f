package dev.lorastream.cli;

import dev.lorastream.consumer.CatalogAdapterSource;
import dev.lorastream.engine.io.ModelFormatException;
import dev.lorastream.engine.lora.AdapterConfig;
import dev.lorastream.engine.lora.LoraAdapter;
import dev.lorastream.engine.ops.Ops;
import dev.lorastream.schemas.AdapterIds;
import dev.lorastream.schemas.AdapterRecord;
import dev.lorastream.schemas.Tenants;
import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * The {@link AdapterRecord} that {@code lorastream adapters add} writes, built from its arguments
 * and, for a {@code file://} source, from the adapter's files: the rank and base model from {@code
 * adapter_config.json} (the engine's {@link AdapterConfig#declared} parser), the size and SHA-256
 * of {@code adapter_model.safetensors}. Every failure is an {@link IllegalArgumentException} naming
 * the argument and what is legal; nothing is written then.
 *
 * @param tenant {@code --tenant}: who registers the adapter (its owner unless {@code isPublic})
 * @param id {@code --id}
 * @param source {@code --source}: a {@code file://}, {@code http://} or {@code https://} URI
 * @param sha256 {@code --sha256}, or null
 * @param baseModel {@code --base-model}, or null
 * @param rank {@code --rank}, or null
 * @param isPublic {@code --public}: owner null, any tenant may use it
 * @param localDir {@code --local-dir}: where to read a {@code file://} source's files when its path
 *     is the one the consumers see (inside a container), or null to read the source path itself
 */
record AdapterRegistration(
    String tenant,
    String id,
    String source,
    String sha256,
    String baseModel,
    Integer rank,
    boolean isPublic,
    Path localDir) {

  private static final Pattern SHA256 = Pattern.compile("[0-9a-fA-F]{64}");

  /**
   * The record to write and the warnings to print.
   *
   * @param warnings for a person, e.g. an {@code http(s)} source without {@code --sha256}
   */
  record Built(AdapterRecord record, List<String> warnings) {}

  /** Checks the arguments, reads a {@code file://} source, and returns the record to write. */
  Built build(long createdEpochMs) {
    checkNames(tenant, id);
    URI uri = parseSource(source);
    String sha = sha256 == null ? null : checkSha(sha256);
    if (rank != null) {
      checkRank(rank, "--rank " + rank);
    }
    List<String> warnings = new ArrayList<>();
    AdapterRecord.Builder b =
        AdapterRecord.newBuilder()
            .setAdapterId(id)
            .setOwnerTenant(isPublic ? null : tenant)
            .setSourceUri(source)
            .setCreatedEpochMs(createdEpochMs);
    if (uri.getScheme().equalsIgnoreCase("file")) {
      readFiles(uri, sha, b);
    } else {
      if (localDir != null) {
        throw new IllegalArgumentException(
            "--local-dir is only for a file:// --source; an http(s) source is not read by add");
      }
      if (rank == null) {
        throw new IllegalArgumentException(
            "--rank is required for an http(s) --source: add does not download the adapter to"
                + " read its adapter_config.json");
      }
      if (baseModel == null) {
        throw new IllegalArgumentException(
            "--base-model is required for an http(s) --source: add does not download the adapter"
                + " to read its adapter_config.json");
      }
      if (sha == null) {
        warnings.add(
            "no --sha256 for an http(s) source: nothing will check that the weights downloaded"
                + " are the ones you meant; give --sha256 of adapter_model.safetensors");
      }
      b.setRank(rank).setBaseModel(baseModel).setSha256(sha).setSizeBytes(0);
    }
    return new Built(b.build(), List.copyOf(warnings));
  }

  /** Checks {@code --tenant} and {@code --id} (shared by add and rm). */
  static void checkNames(String tenant, String id) {
    checkTenant(tenant);
    checkId(id);
  }

  /** Checks {@code --tenant}. */
  static void checkTenant(String tenant) {
    try {
      Tenants.requireName(tenant);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("--tenant " + e.getMessage(), e);
    }
  }

  /** Checks {@code --id}. */
  static void checkId(String id) {
    try {
      AdapterIds.requireId(id);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("--id " + e.getMessage(), e);
    }
  }

  private static URI parseSource(String source) {
    URI uri;
    try {
      uri = new URI(source);
    } catch (URISyntaxException e) {
      throw new IllegalArgumentException(
          "--source '" + source + "' is not a URI: " + e.getMessage(), e);
    }
    String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
    switch (scheme) {
      case "file" -> {
        if (uri.getAuthority() != null || uri.getPath() == null || !uri.getPath().startsWith("/")) {
          throw new IllegalArgumentException(
              "--source '"
                  + source
                  + "' is not an absolute local file:// URI; write file:///absolute/path/to/adapter");
        }
      }
      case "http", "https" -> {
        if (uri.getHost() == null) {
          throw new IllegalArgumentException(
              "--source '" + source + "' has no host; write " + scheme + "://host/path");
        }
      }
      default ->
          throw new IllegalArgumentException(
              "--source '"
                  + source
                  + "' must be a file://, http:// or https:// URI (the PEFT folder with"
                  + " adapter_config.json and adapter_model.safetensors)");
    }
    return uri;
  }

  private static String checkSha(String sha) {
    if (!SHA256.matcher(sha).matches()) {
      throw new IllegalArgumentException(
          "--sha256 '"
              + sha
              + "' is not a SHA-256: 64 hex digits (sha256sum adapter_model.safetensors)");
    }
    return sha.toLowerCase(Locale.ROOT);
  }

  private static void checkRank(int r, String what) {
    if (r < 1 || r > Ops.MAX_RANK) {
      throw new IllegalArgumentException(
          what + " is not a servable LoRA rank: 1 to " + Ops.MAX_RANK);
    }
  }

  private void readFiles(URI uri, String sha, AdapterRecord.Builder b) {
    Path dir = localDir != null ? localDir : Path.of(uri);
    String where = localDir != null ? "--local-dir " + localDir : "--source " + source;
    AdapterConfig.Declared declared;
    try {
      declared = AdapterConfig.declared(dir);
    } catch (ModelFormatException e) { // and UnsupportedAdapterException, a subclass
      throw new IllegalArgumentException(where + ": " + e.getMessage(), e);
    }
    checkRank(declared.r(), where + ": adapter_config.json r=" + declared.r());
    if (rank != null && rank != declared.r()) {
      throw new IllegalArgumentException(
          "--rank " + rank + " differs from r=" + declared.r() + " in " + where);
    }
    String base = baseModel != null ? baseModel : declared.baseModel();
    if (base == null || base.isBlank()) {
      throw new IllegalArgumentException(
          where + ": adapter_config.json has no base_model_name_or_path; give --base-model");
    }
    if (baseModel != null
        && declared.baseModel() != null
        && !baseModel.equals(declared.baseModel())) {
      throw new IllegalArgumentException(
          "--base-model '"
              + baseModel
              + "' differs from base_model_name_or_path '"
              + declared.baseModel()
              + "' in "
              + where
              + "/adapter_config.json; leave --base-model out, or register the right adapter");
    }
    Path weights = dir.resolve(LoraAdapter.WEIGHTS_FILE);
    if (!Files.isRegularFile(weights)) {
      throw new IllegalArgumentException(where + ": " + weights + " is missing or not a file");
    }
    String actual;
    long size;
    try {
      size = Files.size(weights);
      actual = CatalogAdapterSource.sha256(weights);
    } catch (IOException e) {
      throw new IllegalArgumentException("cannot read " + weights + ": " + e.getMessage(), e);
    }
    if (sha != null && !sha.equals(actual)) {
      throw new IllegalArgumentException(
          "--sha256 "
              + sha
              + " does not match "
              + weights
              + " (its SHA-256 is "
              + actual
              + "); check the file, or leave --sha256 out to record the file's");
    }
    b.setRank(declared.r()).setBaseModel(base).setSha256(actual).setSizeBytes(size);
  }
}
