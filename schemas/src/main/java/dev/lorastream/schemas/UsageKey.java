package dev.lorastream.schemas;

import java.net.URLDecoder;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;

/**
 * The key of a {@link TenantUsage} record on {@link Topics#USAGE}: consumer, window start, tenant
 * and adapter, each URL-encoded and joined by {@code |}, so that no two of them share a key
 * whatever characters the ids hold (an adapter id may contain {@code /}). The base model is the
 * empty adapter.
 *
 * @param adapterId null for the base model
 */
public record UsageKey(
    String consumerId, long windowStartEpochMs, String tenantId, String adapterId) {

  /** The usage window: one hour. */
  public static final long WINDOW_MS = 3_600_000L;

  /** The key of {@code u}. */
  public static UsageKey of(TenantUsage u) {
    return new UsageKey(
        u.getConsumerId(), u.getWindowStartEpochMs(), u.getTenantId(), u.getAdapterId());
  }

  /** The start of the window holding {@code epochMs}. */
  public static long windowStart(long epochMs) {
    return Math.floorDiv(epochMs, WINDOW_MS) * WINDOW_MS;
  }

  /** The record key. */
  public String encode() {
    return enc(consumerId)
        + "|"
        + windowStartEpochMs
        + "|"
        + enc(tenantId)
        + "|"
        + enc(adapterId == null ? "" : adapterId);
  }

  /**
   * Parses {@link #encode}'s form.
   *
   * @throws IllegalArgumentException naming the key when it is not one
   */
  public static UsageKey parse(String key) {
    String[] p = key.split("\\|", -1);
    if (p.length != 4) {
      throw new IllegalArgumentException(
          "'" + key + "' is not a lora.usage key (consumer|windowStart|tenant|adapter)");
    }
    try {
      String adapter = dec(p[3]);
      return new UsageKey(
          dec(p[0]), Long.parseLong(p[1]), dec(p[2]), adapter.isEmpty() ? null : adapter);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(
          "'" + key + "' is not a lora.usage key: " + e.getMessage(), e);
    }
  }

  private static String enc(String s) {
    return URLEncoder.encode(s, StandardCharsets.UTF_8);
  }

  private static String dec(String s) {
    return URLDecoder.decode(s, StandardCharsets.UTF_8);
  }
}
