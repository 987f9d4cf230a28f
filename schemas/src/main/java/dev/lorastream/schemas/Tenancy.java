package dev.lorastream.schemas;

import java.util.Arrays;
import java.util.Locale;

/**
 * How tenants are told apart: the value of {@code batcher.tenancy} (batcher) and {@code
 * lorastream.tenancy} (inference consumer, client, bulk tool). Every service of one deployment must
 * use the same mode.
 */
public enum Tenancy {
  /**
   * One request topic ({@code lora.requests}) for everybody, no authentication: the tenant is
   * whatever the producer writes in {@code tenantId}. The embedded default ({@code demo}, {@code
   * demo --serve}); trusted producers only.
   */
  SHARED,

  /**
   * A request and a reply topic per tenant ({@link Tenants}), whose ACLs belong to that tenant's
   * Kafka principal: the tenant is the one the request topic names, so it cannot be forged by a
   * client that can only write its own topic.
   */
  TOPICS;

  /** The mode as written in config: {@code shared} or {@code topics}. */
  public String configValue() {
    return name().toLowerCase(Locale.ROOT);
  }

  /**
   * The mode {@code value} names (case-insensitive); fails naming {@code key} and the legal values.
   */
  public static Tenancy parse(String key, String value) {
    for (Tenancy t : values()) {
      if (t.configValue().equalsIgnoreCase(value == null ? "" : value.trim())) {
        return t;
      }
    }
    throw new IllegalArgumentException(
        key
            + "="
            + value
            + " is invalid: must be one of "
            + Arrays.stream(values()).map(Tenancy::configValue).toList());
  }
}
