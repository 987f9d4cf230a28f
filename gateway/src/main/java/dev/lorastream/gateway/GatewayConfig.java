package dev.lorastream.gateway;

import dev.lorastream.schemas.EnvKeys;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.TreeMap;

/**
 * Settings of the {@link Gateway}. Read by {@link #from} from a flat map of keys, which the service
 * takes from {@code -Dlorastream.*} system properties overlaid on {@code LORASTREAM_*} environment
 * variables ({@link #fromEnvironment}; one rule for every service, see {@link EnvKeys}), as the
 * inference consumer does.
 *
 * @param host address to bind ({@code 0.0.0.0} = every interface)
 * @param port port to bind; 0 = any free one ({@link Gateway#url} tells which)
 * @param bootstrapServers Kafka
 * @param schemaRegistryUrl {@code http(s)://...} or {@code mock://scope}
 * @param modelDir the base model's folder: its {@code tokenizer.json} counts and encodes prompts,
 *     its {@code tokenizer_config.json} is looked at for a chat template
 * @param keys the API keys and their tenants
 * @param maxBodyBytes largest request body; a larger one is answered 413
 * @param maxPromptTokens longest prompt in tokens; a longer one is answered 413 (keep it at or
 *     below the batcher's {@code batcher.max.prompt.tokens})
 * @param timeout how long a request may take, submit to result; it is also the request's deadline,
 *     after which the servers drop it; answered 504
 * @param defaultMaxTokens {@code max_tokens} of a request that gives none
 * @param asyncRetention how long the result of a {@code Prefer: respond-async} request is kept
 *     after it finished, for {@code GET /v1/requests/{id}}
 * @param asyncMaxKept most {@code respond-async} requests kept at once (pending or finished); more
 *     are answered 503
 * @param requestsPerMinute each tenant's requests per minute, over all its keys; more are answered
 *     429 with {@code Retry-After}; 0 = no limit
 * @param tokensPerMinute each tenant's tokens per minute, counted at admission as prompt tokens
 *     plus {@code max_tokens}; 0 = no limit
 * @param topicsTenancy {@code lorastream.tenancy=topics}: each tenant's requests go to its own
 *     {@code lora.tenant.<t>.*} topics ({@link TenantClients}); else all to {@code lora.requests}
 * @param batch where the Batch API keeps its files and batches, and how it runs them
 * @param kafka other Kafka client settings ({@code lorastream.kafka.<setting>}, prefix removed)
 */
public record GatewayConfig(
    String host,
    int port,
    String bootstrapServers,
    String schemaRegistryUrl,
    Path modelDir,
    TenantKeys keys,
    long maxBodyBytes,
    int maxPromptTokens,
    Duration timeout,
    int defaultMaxTokens,
    Duration asyncRetention,
    int asyncMaxKept,
    long requestsPerMinute,
    long tokensPerMinute,
    boolean topicsTenancy,
    Batch batch,
    Map<String, String> kafka) {

  public static final String HOST = "lorastream.gateway.host";
  public static final String PORT = "lorastream.gateway.port";
  public static final String KEYS_FILE = "lorastream.gateway.keys.file";
  public static final String MAX_BODY_BYTES = "lorastream.gateway.max-body-bytes";
  public static final String MAX_PROMPT_TOKENS = "lorastream.gateway.max-prompt-tokens";
  public static final String TIMEOUT_MS = "lorastream.gateway.timeout-ms";
  public static final String DEFAULT_MAX_TOKENS = "lorastream.gateway.default-max-tokens";
  public static final String ASYNC_RETENTION_MS = "lorastream.gateway.async.retention-ms";
  public static final String ASYNC_MAX_KEPT = "lorastream.gateway.async.max-kept";
  public static final String TENANT_RPM = "lorastream.gateway.tenant.requests-per-minute";
  public static final String TENANT_TPM = "lorastream.gateway.tenant.tokens-per-minute";
  public static final String TENANCY = "lorastream.tenancy";
  public static final String DATA_DIR = "lorastream.gateway.data-dir";
  public static final String BATCH_CONCURRENCY = "lorastream.gateway.batch.concurrency";
  public static final String BATCH_MAX_FILE_BYTES = "lorastream.gateway.batch.max-file-bytes";
  public static final String BATCH_REQUEST_TIMEOUT_MS =
      "lorastream.gateway.batch.request-timeout-ms";
  public static final String BOOTSTRAP = "lorastream.kafka.bootstrap.servers";
  public static final String REGISTRY = "lorastream.schema.registry.url";
  public static final String MODEL = "lorastream.model.dir";
  public static final String KAFKA_PREFIX = "lorastream.kafka.";

  public static final String DEFAULT_HOST = "0.0.0.0";
  public static final int DEFAULT_PORT = 8000;
  public static final long DEFAULT_MAX_BODY_BYTES = 1 << 20;
  public static final int DEFAULT_MAX_PROMPT = 3072;
  public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(60);
  public static final int DEFAULT_MAX_NEW_TOKENS = 16;
  public static final Duration DEFAULT_ASYNC_RETENTION = Duration.ofMinutes(10);
  public static final int DEFAULT_ASYNC_MAX_KEPT = 10_000;

  /**
   * The Batch API's settings.
   *
   * @param dataDir the folder of uploaded files, batches and their results (kept across restarts: a
   *     batch that was running goes on when the gateway starts again on the same folder)
   * @param concurrency each batch's requests in flight at most
   * @param maxFileBytes largest uploaded file
   * @param requestTimeout how long one batch request may take, submit to result (it waits behind
   *     online traffic: batches run at bulk priority)
   */
  public record Batch(Path dataDir, int concurrency, long maxFileBytes, Duration requestTimeout) {
    public static final int DEFAULT_CONCURRENCY = 64;
    public static final long DEFAULT_MAX_FILE_BYTES = 200L << 20; // OpenAI's limit
    public static final Duration DEFAULT_REQUEST_TIMEOUT = Duration.ofMinutes(10);

    public Batch {
      Objects.requireNonNull(dataDir, DATA_DIR);
      if (concurrency < 1 || maxFileBytes < 1 || !requestTimeout.isPositive()) {
        throw new IllegalArgumentException(
            BATCH_CONCURRENCY
                + ", "
                + BATCH_MAX_FILE_BYTES
                + " and "
                + BATCH_REQUEST_TIMEOUT_MS
                + " must be >= 1");
      }
    }

    /** The defaults, keeping data in {@code dataDir}. */
    public static Batch in(Path dataDir) {
      return new Batch(
          dataDir, DEFAULT_CONCURRENCY, DEFAULT_MAX_FILE_BYTES, DEFAULT_REQUEST_TIMEOUT);
    }

    /** {@code ~/.lorastream/gateway}. */
    public static Path defaultDataDir() {
      return Path.of(System.getProperty("user.home"), ".lorastream", "gateway");
    }
  }

  /** The keys {@link #from} reads (and their environment variables, {@link EnvKeys}). */
  public static final List<String> KEYS =
      List.of(
          HOST,
          PORT,
          KEYS_FILE,
          MAX_BODY_BYTES,
          MAX_PROMPT_TOKENS,
          TIMEOUT_MS,
          DEFAULT_MAX_TOKENS,
          ASYNC_RETENTION_MS,
          ASYNC_MAX_KEPT,
          TENANT_RPM,
          TENANT_TPM,
          TENANCY,
          DATA_DIR,
          BATCH_CONCURRENCY,
          BATCH_MAX_FILE_BYTES,
          BATCH_REQUEST_TIMEOUT_MS,
          BOOTSTRAP,
          REGISTRY,
          MODEL);

  private static final EnvKeys ENV = EnvKeys.of(KEYS);

  public GatewayConfig {
    Objects.requireNonNull(host, HOST);
    Objects.requireNonNull(bootstrapServers, BOOTSTRAP);
    Objects.requireNonNull(schemaRegistryUrl, REGISTRY);
    Objects.requireNonNull(modelDir, MODEL);
    Objects.requireNonNull(keys, KEYS_FILE);
    Objects.requireNonNull(timeout, TIMEOUT_MS);
    if (port < 0 || port > 65535) {
      throw new IllegalArgumentException(PORT + "=" + port + " is out of range (0-65535)");
    }
    if (maxBodyBytes < 1 || maxPromptTokens < 1 || defaultMaxTokens < 1) {
      throw new IllegalArgumentException(
          MAX_BODY_BYTES
              + ", "
              + MAX_PROMPT_TOKENS
              + " and "
              + DEFAULT_MAX_TOKENS
              + " must be >= 1");
    }
    if (timeout.isNegative() || timeout.isZero()) {
      throw new IllegalArgumentException(TIMEOUT_MS + " must be > 0, got " + timeout);
    }
    Objects.requireNonNull(asyncRetention, ASYNC_RETENTION_MS);
    if (asyncRetention.isNegative() || asyncMaxKept < 1) {
      throw new IllegalArgumentException(
          ASYNC_RETENTION_MS + " must be >= 0 and " + ASYNC_MAX_KEPT + " >= 1");
    }
    if (requestsPerMinute < 0 || tokensPerMinute < 0) {
      throw new IllegalArgumentException(
          TENANT_RPM + " and " + TENANT_TPM + " must be >= 0 (0 = no limit)");
    }
    Objects.requireNonNull(batch, DATA_DIR);
    kafka = Map.copyOf(kafka);
  }

  /** Defaults for everything but the addresses, the model and the keys. */
  public static GatewayConfig of(
      String bootstrapServers, String schemaRegistryUrl, Path modelDir, TenantKeys keys) {
    return new GatewayConfig(
        DEFAULT_HOST,
        DEFAULT_PORT,
        bootstrapServers,
        schemaRegistryUrl,
        modelDir,
        keys,
        DEFAULT_MAX_BODY_BYTES,
        DEFAULT_MAX_PROMPT,
        DEFAULT_TIMEOUT,
        DEFAULT_MAX_NEW_TOKENS,
        DEFAULT_ASYNC_RETENTION,
        DEFAULT_ASYNC_MAX_KEPT,
        0,
        0,
        false,
        Batch.in(Batch.defaultDataDir()),
        Map.of());
  }

  /** A copy bound to {@code host:port}. */
  public GatewayConfig withAddress(String host, int port) {
    return with(
        b -> {
          b.host = host;
          b.port = port;
        });
  }

  /** A copy with other limits. */
  public GatewayConfig withLimits(long maxBodyBytes, int maxPromptTokens, Duration timeout) {
    return with(
        b -> {
          b.maxBodyBytes = maxBodyBytes;
          b.maxPromptTokens = maxPromptTokens;
          b.timeout = timeout;
        });
  }

  /** A copy with per-tenant rate limits (0 = none). */
  public GatewayConfig withRateLimits(long requestsPerMinute, long tokensPerMinute) {
    return with(
        b -> {
          b.requestsPerMinute = requestsPerMinute;
          b.tokensPerMinute = tokensPerMinute;
        });
  }

  /** A copy in topics tenancy ({@code true}) or shared tenancy. */
  public GatewayConfig withTopicsTenancy(boolean topicsTenancy) {
    return with(b -> b.topicsTenancy = topicsTenancy);
  }

  /** A copy with other Batch API settings. */
  public GatewayConfig withBatch(Batch batch) {
    return with(b -> b.batch = batch);
  }

  /** A copy with what {@code change} sets on a {@link Copy} of this one's values. */
  private GatewayConfig with(java.util.function.Consumer<Copy> change) {
    Copy b = new Copy(this);
    change.accept(b);
    return b.build();
  }

  /** The components of a {@link GatewayConfig} as fields, for the {@code with...} copies. */
  private static final class Copy {
    String host;
    int port;
    String bootstrapServers;
    String schemaRegistryUrl;
    Path modelDir;
    TenantKeys keys;
    long maxBodyBytes;
    int maxPromptTokens;
    Duration timeout;
    int defaultMaxTokens;
    Duration asyncRetention;
    int asyncMaxKept;
    long requestsPerMinute;
    long tokensPerMinute;
    boolean topicsTenancy;
    Batch batch;
    Map<String, String> kafka;

    Copy(GatewayConfig c) {
      host = c.host;
      port = c.port;
      bootstrapServers = c.bootstrapServers;
      schemaRegistryUrl = c.schemaRegistryUrl;
      modelDir = c.modelDir;
      keys = c.keys;
      maxBodyBytes = c.maxBodyBytes;
      maxPromptTokens = c.maxPromptTokens;
      timeout = c.timeout;
      defaultMaxTokens = c.defaultMaxTokens;
      asyncRetention = c.asyncRetention;
      asyncMaxKept = c.asyncMaxKept;
      requestsPerMinute = c.requestsPerMinute;
      tokensPerMinute = c.tokensPerMinute;
      topicsTenancy = c.topicsTenancy;
      batch = c.batch;
      kafka = c.kafka;
    }

    GatewayConfig build() {
      return new GatewayConfig(
          host,
          port,
          bootstrapServers,
          schemaRegistryUrl,
          modelDir,
          keys,
          maxBodyBytes,
          maxPromptTokens,
          timeout,
          defaultMaxTokens,
          asyncRetention,
          asyncMaxKept,
          requestsPerMinute,
          tokensPerMinute,
          topicsTenancy,
          batch,
          kafka);
    }
  }

  /**
   * From keys: {@link #BOOTSTRAP}, {@link #MODEL} and {@link #KEYS_FILE} are required; the rest
   * default (the constants above); other {@code lorastream.kafka.*} keys go to the Kafka clients.
   *
   * @throws IllegalArgumentException naming the key that is missing or wrong
   */
  public static GatewayConfig from(Map<String, String> props) {
    EnvKeys.requireKnown(props, "lorastream.gateway.", KEYS, "gateway");
    Map<String, String> kafka = new TreeMap<>();
    props.forEach(
        (k, v) -> {
          if (k.startsWith(KAFKA_PREFIX) && !k.equals(BOOTSTRAP)) {
            kafka.put(k.substring(KAFKA_PREFIX.length()), v);
          }
        });
    return new GatewayConfig(
        props.getOrDefault(HOST, DEFAULT_HOST),
        (int) number(props, PORT, DEFAULT_PORT),
        required(props, BOOTSTRAP, "Kafka's bootstrap servers"),
        props.getOrDefault(REGISTRY, "mock://lorastream"),
        Path.of(required(props, MODEL, "the base model's folder, for its tokenizer")),
        TenantKeys.load(
            Path.of(required(props, KEYS_FILE, "the API key file (TENANT=sha256:HEX per line)"))),
        number(props, MAX_BODY_BYTES, DEFAULT_MAX_BODY_BYTES),
        (int) number(props, MAX_PROMPT_TOKENS, DEFAULT_MAX_PROMPT),
        Duration.ofMillis(number(props, TIMEOUT_MS, DEFAULT_TIMEOUT.toMillis())),
        (int) number(props, DEFAULT_MAX_TOKENS, DEFAULT_MAX_NEW_TOKENS),
        Duration.ofMillis(number(props, ASYNC_RETENTION_MS, DEFAULT_ASYNC_RETENTION.toMillis())),
        (int) number(props, ASYNC_MAX_KEPT, DEFAULT_ASYNC_MAX_KEPT),
        number(props, TENANT_RPM, 0),
        number(props, TENANT_TPM, 0),
        topics(props.getOrDefault(TENANCY, "shared")),
        new Batch(
            Path.of(props.getOrDefault(DATA_DIR, Batch.defaultDataDir().toString())),
            (int) number(props, BATCH_CONCURRENCY, Batch.DEFAULT_CONCURRENCY),
            number(props, BATCH_MAX_FILE_BYTES, Batch.DEFAULT_MAX_FILE_BYTES),
            Duration.ofMillis(
                number(props, BATCH_REQUEST_TIMEOUT_MS, Batch.DEFAULT_REQUEST_TIMEOUT.toMillis()))),
        kafka);
  }

  private static boolean topics(String tenancy) {
    return switch (tenancy.trim()) {
      case "shared" -> false;
      case "topics" -> true;
      default ->
          throw new IllegalArgumentException(
              TENANCY + "=" + tenancy + " is not a tenancy: shared (default) or topics");
    };
  }

  /** System properties overlaid on the process's {@code LORASTREAM_*} environment variables. */
  public static Map<String, String> fromEnvironment() {
    return fromEnvironment(System.getenv(), System.getProperties());
  }

  static Map<String, String> fromEnvironment(Map<String, String> env, Properties sys) {
    return ENV.overlay(env, sys);
  }

  /** The Kafka client settings: bootstrap servers plus {@link #kafka}. */
  Map<String, Object> kafkaClientSettings() {
    Map<String, Object> m = new HashMap<>(kafka);
    m.put("bootstrap.servers", bootstrapServers);
    return m;
  }

  private static String required(Map<String, String> props, String key, String what) {
    String v = props.get(key);
    if (v == null || v.isBlank()) {
      throw new IllegalArgumentException(
          key + " (" + EnvKeys.variable(key) + ") is required: " + what);
    }
    return v.trim();
  }

  private static long number(Map<String, String> props, String key, long dflt) {
    String v = props.get(key);
    if (v == null || v.isBlank()) {
      return dflt;
    }
    try {
      return Long.parseLong(v.trim());
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(key + "=" + v + " is not a whole number", e);
    }
  }
}
