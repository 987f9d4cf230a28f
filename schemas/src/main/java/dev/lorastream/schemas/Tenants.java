package dev.lorastream.schemas;

import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Tenant names and the per-tenant topics of {@link Tenancy#TOPICS} mode, declared once.
 *
 * <p>A tenant name is 1 to 48 characters of {@code a-z 0-9 -}, starting with a letter or digit
 * ({@link #NAME}). With no {@code .} or {@code _} in a name, {@code lora.tenant.<name>.<kind>}
 * splits back into exactly one (name, kind): no tenant's topic can be another tenant's, nor one of
 * the shared topics ({@code lora.requests.dlq} does not start with {@code lora.tenant.}), and Kafka
 * does not confuse it with another (Kafka treats {@code .} and {@code _} alike in metric names).
 *
 * <p>Topics of tenant {@code t}: {@code lora.tenant.t.requests} (it writes, the batcher reads by
 * {@link #REQUESTS_TOPIC_PATTERN}) and {@code lora.tenant.t.replies} (the batcher and the inference
 * consumers write, it reads). Any per-tenant topic added later (stream chunks, cancels, usage)
 * follows {@code lora.tenant.<t>.<kind>}, see {@link #topic}: {@code lora.tenant.t.stream} (token
 * chunks, the consumers write, it reads) and {@code lora.tenant.t.cancel} (it writes, the consumers
 * read).
 */
public final class Tenants {

  /** A legal tenant name. */
  public static final Pattern NAME = Pattern.compile("[a-z0-9][a-z0-9-]{0,47}");

  /** Prefix of every per-tenant topic. */
  public static final String TOPIC_PREFIX = "lora.tenant.";

  /** Kind of the request topic. */
  public static final String REQUESTS = "requests";

  /** Kind of the reply topic. */
  public static final String REPLIES = "replies";

  /** Kind of the stream topic (token chunks; the inference consumers write, the tenant reads). */
  public static final String STREAM = "stream";

  /** Kind of the cancel topic (the tenant writes, the inference consumers read). */
  public static final String CANCEL = "cancel";

  /**
   * Kind of the usage topic (compacted; the inference consumers write the tenant's usage counts,
   * the tenant reads them).
   */
  public static final String USAGE = "usage";

  /** Every tenant's cancel topic, and nothing else; group 1 is the tenant. */
  public static final Pattern CANCEL_TOPIC_PATTERN =
      Pattern.compile(Pattern.quote(TOPIC_PREFIX) + "(" + NAME.pattern() + ")\\.cancel");

  /** Every tenant's request topic, and nothing else; group 1 is the tenant. */
  public static final Pattern REQUESTS_TOPIC_PATTERN =
      Pattern.compile(Pattern.quote(TOPIC_PREFIX) + "(" + NAME.pattern() + ")\\.requests");

  private Tenants() {}

  /** True when {@code name} is a legal tenant name. */
  public static boolean isName(String name) {
    return name != null && NAME.matcher(name).matches();
  }

  /** {@code name}, or a failure saying what a tenant name must be. */
  public static String requireName(String name) {
    if (!isName(name)) {
      throw new IllegalArgumentException(
          "'"
              + name
              + "' is not a tenant name: 1 to 48 characters of a-z 0-9 -, starting with a letter"
              + " or digit (no dots or underscores, so that tenant topic names cannot collide)");
    }
    return name;
  }

  /** {@code lora.tenant.<tenant>.<kind>}: a per-tenant topic. */
  public static String topic(String tenant, String kind) {
    return TOPIC_PREFIX + requireName(tenant) + "." + kind;
  }

  /** {@code lora.tenant.<tenant>.requests}: where the tenant writes its requests. */
  public static String requestsTopic(String tenant) {
    return topic(tenant, REQUESTS);
  }

  /** {@code lora.tenant.<tenant>.replies}: where the tenant reads its replies. */
  public static String repliesTopic(String tenant) {
    return topic(tenant, REPLIES);
  }

  /** {@code lora.tenant.<tenant>.stream}: where the tenant reads token chunks. */
  public static String streamTopic(String tenant) {
    return topic(tenant, STREAM);
  }

  /** {@code lora.tenant.<tenant>.cancel}: where the tenant writes cancels. */
  public static String cancelTopic(String tenant) {
    return topic(tenant, CANCEL);
  }

  /**
   * {@code lora.tenant.<tenant>.usage}: the tenant's own copy of its usage counts (topics tenancy;
   * compacted, as {@code lora.usage}).
   */
  public static String usageTopic(String tenant) {
    return topic(tenant, USAGE);
  }

  /** The tenant whose cancel topic {@code topic} is; empty for any other topic. */
  public static Optional<String> ofCancelTopic(String topic) {
    if (topic == null) {
      return Optional.empty();
    }
    Matcher m = CANCEL_TOPIC_PATTERN.matcher(topic);
    return m.matches() ? Optional.of(m.group(1)) : Optional.empty();
  }

  /**
   * The consumer group a tenant may use ({@code lora.tenant.<tenant>}); the client itself reads
   * without a group.
   */
  public static String group(String tenant) {
    return TOPIC_PREFIX + requireName(tenant);
  }

  /** The tenant whose request topic {@code topic} is; empty for any other topic. */
  public static Optional<String> ofRequestsTopic(String topic) {
    if (topic == null) {
      return Optional.empty();
    }
    Matcher m = REQUESTS_TOPIC_PATTERN.matcher(topic);
    return m.matches() ? Optional.of(m.group(1)) : Optional.empty();
  }
}
