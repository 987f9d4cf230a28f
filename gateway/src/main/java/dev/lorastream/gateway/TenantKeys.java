package dev.lorastream.gateway;

import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.regex.Pattern;

/**
 * API keys and the tenant each belongs to. Only SHA-256 digests of the keys are held: a key file
 * lists them as {@code TENANT=sha256:HEX[,sha256:HEX...]} (properties syntax; make a digest with
 * {@code printf %s "$KEY" | sha256sum}), and keys given in clear ({@link #ofPlainKeys}, the demo's)
 * are hashed on load and not kept. A caller's key is hashed and looked up; a digest listed for two
 * tenants is refused at load, so a key always names exactly one tenant. Immutable, thread-safe.
 */
public final class TenantKeys {
  private static final Pattern TENANT = Pattern.compile("[A-Za-z0-9._-]{1,128}");
  private static final Pattern DIGEST = Pattern.compile("sha256:[0-9a-f]{64}");
  private static final SecureRandom RANDOM = new SecureRandom();

  private final Map<String, String> tenantByDigest; // lower-case hex digest -> tenant

  private TenantKeys(Map<String, String> tenantByDigest) {
    this.tenantByDigest = Map.copyOf(tenantByDigest);
  }

  /**
   * Reads a key file: each property is a tenant, its value comma-separated {@code sha256:HEX}
   * digests (64 lower-case hex digits).
   *
   * @throws IllegalArgumentException naming the file and the entry that is wrong
   */
  public static TenantKeys load(Path file) {
    Properties p = new Properties();
    try (Reader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
      p.load(r);
    } catch (IOException e) {
      throw new IllegalArgumentException("cannot read the API key file " + file + ": " + e, e);
    }
    Map<String, String> digests = new HashMap<>();
    for (String tenant : p.stringPropertyNames()) {
      for (String entry : p.getProperty(tenant).split(",")) {
        String d = entry.trim();
        if (d.isEmpty()) {
          continue;
        }
        if (!DIGEST.matcher(d).matches()) {
          throw new IllegalArgumentException(
              "API key file "
                  + file
                  + ": tenant '"
                  + tenant
                  + "' has an entry that is not sha256:<64 lower-case hex digits> (keys are"
                  + " stored hashed: printf %s \"$KEY\" | sha256sum)");
        }
        put(digests, d.substring("sha256:".length()), tenant, "API key file " + file);
      }
    }
    return new TenantKeys(digests);
  }

  /** Keys given in clear, tenant → key; each is hashed here and only its digest is kept. */
  public static TenantKeys ofPlainKeys(Map<String, String> keyByTenant) {
    Map<String, String> digests = new HashMap<>();
    keyByTenant.forEach((tenant, key) -> put(digests, sha256Hex(key), tenant, "API keys"));
    return new TenantKeys(digests);
  }

  /** A fresh random key per tenant (the demo's), tenant → key, in the order given. */
  public static Map<String, String> randomKeys(Iterable<String> tenants) {
    Map<String, String> keys = new LinkedHashMap<>();
    for (String t : tenants) {
      byte[] b = new byte[24];
      RANDOM.nextBytes(b);
      keys.put(t, "ls-" + Base64.getUrlEncoder().withoutPadding().encodeToString(b));
    }
    return keys;
  }

  /** The tenant whose key {@code key} is, if any. */
  public Optional<String> tenantOf(String key) {
    if (key == null || key.isEmpty()) {
      return Optional.empty();
    }
    return Optional.ofNullable(tenantByDigest.get(sha256Hex(key)));
  }

  /** The tenants that have a key. */
  public java.util.Set<String> tenants() {
    return new java.util.TreeSet<>(tenantByDigest.values());
  }

  /** How many keys are configured. */
  public int size() {
    return tenantByDigest.size();
  }

  /** Lower-case hex SHA-256 of the key's UTF-8 bytes. */
  public static String sha256Hex(String key) {
    try {
      return HexFormat.of()
          .formatHex(
              MessageDigest.getInstance("SHA-256").digest(key.getBytes(StandardCharsets.UTF_8)));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 is missing from this JVM", e);
    }
  }

  private static void put(Map<String, String> digests, String digest, String tenant, String where) {
    if (!TENANT.matcher(tenant).matches()) {
      throw new IllegalArgumentException(
          where + ": tenant name '" + tenant + "' must be 1-128 characters of A-Z a-z 0-9 . _ -");
    }
    String other = digests.putIfAbsent(digest, tenant);
    if (other != null && !other.equals(tenant)) {
      throw new IllegalArgumentException(
          where
              + ": one key is listed for tenants '"
              + other
              + "' and '"
              + tenant
              + "'; a key must belong to one tenant");
    }
  }
}
