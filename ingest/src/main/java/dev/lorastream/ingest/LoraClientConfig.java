package dev.lorastream.ingest;

import dev.lorastream.schemas.Tenancy;
import dev.lorastream.schemas.Tenants;
import dev.lorastream.schemas.Topics;
import dev.lorastream.schemas.serde.AvroSerdeConfig;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import java.util.UUID;

/**
 * Settings of a {@link LoraClient}. Immutable; {@code with*} methods return a changed copy.
 *
 * <p>{@link #fromMap} reads the keys named by the constants here; any other key in that map is
 * passed to the Kafka producer and the reply consumer as is (e.g. {@code security.protocol}, {@code
 * sasl.jaas.config}).
 *
 * @param bootstrapServers Kafka {@code bootstrap.servers}
 * @param schemaRegistryUrl {@code schema.registry.url}: {@code http(s)://host:port} or {@code
 *     mock://scope}
 * @param requestTopic topic the client sends requests to: {@code lora.requests} by default (shared
 *     tenancy), or its tenant's {@code lora.tenant.<t>.requests} ({@link #forTenant})
 * @param replyTopic topic the client reads replies from and names in every request's {@code
 *     replyTopic} ({@code lora.replies} by default, or a per-tenant topic); it must exist
 * @param clientId Kafka {@code client.id} prefix of the producer and the reply consumer
 * @param defaultTimeout how long a request waits for its reply unless {@code submit} is given
 *     another timeout
 * @param kafkaOverrides extra producer and consumer properties, applied last
 */
public record LoraClientConfig(
    String bootstrapServers,
    String schemaRegistryUrl,
    String requestTopic,
    String replyTopic,
    String clientId,
    Duration defaultTimeout,
    Map<String, Object> kafkaOverrides) {

  /** Kafka bootstrap servers. Required. */
  public static final String BOOTSTRAP_SERVERS = "bootstrap.servers";

  /** Schema registry url. Required. */
  public static final String SCHEMA_REGISTRY_URL = AvroSerdeConfig.SCHEMA_REGISTRY_URL;

  /** Request topic; default {@code lora.requests}. */
  public static final String REQUEST_TOPIC = "lorastream.request.topic";

  /**
   * {@code shared} (default) or {@code topics}: in topics mode {@link #TENANT} names the tenant and
   * sets both topics ({@link #forTenant}).
   */
  public static final String TENANCY = "lorastream.tenancy";

  /** The tenant of topics mode. */
  public static final String TENANT = "lorastream.tenant";

  /** Reply topic; default {@code lora.replies}. */
  public static final String REPLY_TOPIC = "lorastream.reply.topic";

  /** Kafka client id prefix; default {@code lorastream-client-<random>}. */
  public static final String CLIENT_ID = "client.id";

  /** Default request timeout in milliseconds; default 60000. */
  public static final String TIMEOUT_MS = "lorastream.request.timeout.ms";

  /** Default of {@link #TIMEOUT_MS}. */
  public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(60);

  public LoraClientConfig {
    requireText(bootstrapServers, BOOTSTRAP_SERVERS);
    requireText(schemaRegistryUrl, SCHEMA_REGISTRY_URL);
    requireText(requestTopic, REQUEST_TOPIC);
    requireText(replyTopic, REPLY_TOPIC);
    requireText(clientId, CLIENT_ID);
    Objects.requireNonNull(defaultTimeout, TIMEOUT_MS);
    if (defaultTimeout.isNegative() || defaultTimeout.isZero()) {
      throw new IllegalArgumentException(TIMEOUT_MS + " must be > 0, got " + defaultTimeout);
    }
    kafkaOverrides = Map.copyOf(kafkaOverrides);
  }

  /** Defaults for everything but the two addresses. */
  public static LoraClientConfig of(String bootstrapServers, String schemaRegistryUrl) {
    return new LoraClientConfig(
        bootstrapServers,
        schemaRegistryUrl,
        Topics.REQUESTS.name(),
        Topics.REPLIES.name(),
        "lorastream-client-" + UUID.randomUUID().toString().substring(0, 8),
        DEFAULT_TIMEOUT,
        Map.of());
  }

  /** From a flat map of the keys above; unknown keys become {@link #kafkaOverrides}. */
  public static LoraClientConfig fromMap(Map<String, ?> props) {
    LoraClientConfig c = of(str(props, BOOTSTRAP_SERVERS), str(props, SCHEMA_REGISTRY_URL));
    Tenancy tenancy =
        Tenancy.parse(TENANCY, props.get(TENANCY) == null ? "shared" : str(props, TENANCY));
    if (tenancy == Tenancy.TOPICS) {
      if (props.get(TENANT) == null) {
        throw new IllegalArgumentException(TENANCY + "=topics needs " + TENANT);
      }
      c = c.forTenant(str(props, TENANT));
    }
    if (props.get(REQUEST_TOPIC) != null) {
      c = c.withRequestTopic(str(props, REQUEST_TOPIC));
    }
    if (props.get(REPLY_TOPIC) != null) {
      c = c.withReplyTopic(str(props, REPLY_TOPIC));
    }
    if (props.get(CLIENT_ID) != null) {
      c = c.withClientId(str(props, CLIENT_ID));
    }
    if (props.get(TIMEOUT_MS) != null) {
      c = c.withDefaultTimeout(Duration.ofMillis(Long.parseLong(str(props, TIMEOUT_MS).trim())));
    }
    Map<String, Object> rest = new HashMap<>(props);
    for (String k :
        new String[] {
          BOOTSTRAP_SERVERS,
          SCHEMA_REGISTRY_URL,
          REQUEST_TOPIC,
          TENANCY,
          TENANT,
          REPLY_TOPIC,
          CLIENT_ID,
          TIMEOUT_MS
        }) {
      rest.remove(k);
    }
    return c.withKafkaOverrides(rest);
  }

  /**
   * A copy that sends to and reads from the topics of tenant {@code tenant} (topics tenancy, {@link
   * Tenants}): {@code lora.tenant.<tenant>.requests} and {@code lora.tenant.<tenant>.replies}. Its
   * Kafka login (in {@link #kafkaOverrides}) must be that tenant's principal, and every request's
   * tenantId must be {@code tenant}: the batcher refuses any other.
   *
   * @throws IllegalArgumentException when {@code tenant} is not a tenant name
   */
  public LoraClientConfig forTenant(String tenant) {
    return withRequestTopic(Tenants.requestsTopic(tenant))
        .withReplyTopic(Tenants.repliesTopic(tenant));
  }

  public LoraClientConfig withRequestTopic(String topic) {
    return new LoraClientConfig(
        bootstrapServers,
        schemaRegistryUrl,
        topic,
        replyTopic,
        clientId,
        defaultTimeout,
        kafkaOverrides);
  }

  public LoraClientConfig withReplyTopic(String topic) {
    return new LoraClientConfig(
        bootstrapServers,
        schemaRegistryUrl,
        requestTopic,
        topic,
        clientId,
        defaultTimeout,
        kafkaOverrides);
  }

  public LoraClientConfig withClientId(String id) {
    return new LoraClientConfig(
        bootstrapServers,
        schemaRegistryUrl,
        requestTopic,
        replyTopic,
        id,
        defaultTimeout,
        kafkaOverrides);
  }

  public LoraClientConfig withDefaultTimeout(Duration timeout) {
    return new LoraClientConfig(
        bootstrapServers,
        schemaRegistryUrl,
        requestTopic,
        replyTopic,
        clientId,
        timeout,
        kafkaOverrides);
  }

  public LoraClientConfig withKafkaOverrides(Map<String, ?> overrides) {
    return new LoraClientConfig(
        bootstrapServers,
        schemaRegistryUrl,
        requestTopic,
        replyTopic,
        clientId,
        defaultTimeout,
        Map.copyOf(overrides));
  }

  private static String str(Map<String, ?> props, String key) {
    Object v = props.get(key);
    return v == null ? null : v.toString();
  }

  private static void requireText(String value, String key) {
    if (value == null || value.isBlank()) {
      throw new IllegalArgumentException(key + " is required");
    }
  }
}
