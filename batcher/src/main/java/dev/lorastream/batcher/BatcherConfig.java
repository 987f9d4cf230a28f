package dev.lorastream.batcher;

import dev.lorastream.schemas.EnvKeys;
import dev.lorastream.schemas.MetricsServer;
import dev.lorastream.schemas.ReplyTopicCache;
import dev.lorastream.schemas.Tenancy;
import dev.lorastream.schemas.Tenants;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.Set;
import java.util.function.Function;
import java.util.stream.Collectors;

/**
 * Configuration of the batcher: the {@code batcher.*} knobs (every key is declared here once, with
 * its default) plus the pass-through Kafka Streams / serde settings ({@code bootstrap.servers},
 * {@code schema.registry.url}, {@code state.dir}, ...). Immutable.
 *
 * <p>Token counts are per request: prompt tokens ({@code promptTokenIds.size()}) plus {@code
 * sampling.maxTokens}. The limits are checked against each other when constructed so that every
 * request that passes validation fits into a batch on its own.
 *
 * @param maxBatchTokens token budget of one batch (sum over rows of prompt + max new tokens)
 * @param maxBatchRequests most rows in one batch
 * @param maxDistinctAdapters most distinct (non-null) adapters in one batch
 * @param maxWaitMs wall-clock milliseconds the oldest buffered request may wait before its batch is
 *     flushed
 * @param maxPromptTokens longest prompt accepted (else PROMPT_TOO_LONG)
 * @param maxNewTokens largest {@code sampling.maxTokens} accepted (else INVALID_PARAMS)
 * @param maxContextTokens the base model's context in tokens: a request whose prompt tokens plus
 *     {@code sampling.maxTokens} exceed it gets PROMPT_TOO_LONG; 0 = unknown (not checked here; the
 *     engine refuses such a request instead)
 * @param dedupWindowMs wall-clock milliseconds within which a (tenantId, requestId) is answered
 *     once: a repeat read less than this long after the first gets DUPLICATE_REQUEST ({@link
 *     DedupProcessor})
 * @param tenancy {@code shared}: requests are read from {@code lora.requests} and their tenantId is
 *     trusted; {@code topics}: from every {@code lora.tenant.<t>.requests} ({@link Tenants}), and a
 *     request's tenant is the one its topic names ({@link TenantBindProcessor})
 * @param replyTopicPatterns reply topics a tenant may write to; {@code {tenant}} stands for its
 *     tenantId (shared mode only: in topics mode a tenant's one reply topic is {@code
 *     lora.tenant.<t>.replies})
 * @param replyTopicCacheMs how long the answer "this reply topic exists" is trusted before the
 *     cluster is asked again ({@link ReplyTopicCache})
 * @param replyTopicRecheckMs how long any other answer (missing, illegal name, not authorized) is
 *     reused; a reply topic created just now is usable after at most this long
 * @param batchesPartitions expected partition count of {@code lora.batches}, checked at start; 0 =
 *     any
 * @param affinitySpread partitions a hot adapter's batches rotate over (1 = never spread)
 * @param residencyMaxAgeMs a batch goes to a consumer that holds its adapter, by what the consumers
 *     publish on {@code lora.residency} ({@link ResidencyIndex}), when that record is at most this
 *     old; 0 = route by hash only and do not read the topic
 * @param hashBalanceFactor percent of the mean rows per partition at which a {@code lora.batches}
 *     partition is full and a batch goes to the next one ({@link PartitionLoad}); 0 = no bound
 * @param metricsPort HTTP port of the Prometheus endpoint; 0 = any free port, -1 = no endpoint
 * @param healthStallMs {@code /health} reports DOWN when input is pending on this instance's {@code
 *     lora.requests} partitions and no record was handled for this long
 * @param threadReplacementsMax most stream-thread replacements for failures at one record, and
 *     within {@code threadReplacementsWindowMs}; one more failure shuts the batcher down ({@link
 *     ThreadFailurePolicy})
 * @param threadReplacementsWindowMs the window of {@code threadReplacementsMax}
 * @param kafka every other key: Kafka Streams, client and serde settings, passed through
 */
public record BatcherConfig(
    int maxBatchTokens,
    int maxBatchRequests,
    int maxDistinctAdapters,
    long maxWaitMs,
    int maxPromptTokens,
    int maxNewTokens,
    int maxContextTokens,
    long dedupWindowMs,
    Tenancy tenancy,
    List<String> replyTopicPatterns,
    long replyTopicCacheMs,
    long replyTopicRecheckMs,
    int batchesPartitions,
    int affinitySpread,
    long residencyMaxAgeMs,
    int hashBalanceFactor,
    int metricsPort,
    long healthStallMs,
    int threadReplacementsMax,
    long threadReplacementsWindowMs,
    Map<String, String> kafka) {

  public static final String MAX_BATCH_TOKENS = "batcher.max.batch.tokens";
  public static final String MAX_BATCH_REQUESTS = "batcher.max.batch.requests";
  public static final String MAX_DISTINCT_ADAPTERS = "batcher.max.distinct.adapters";
  public static final String MAX_WAIT_MS = "batcher.max.wait.ms";
  public static final String MAX_PROMPT_TOKENS = "batcher.max.prompt.tokens";
  public static final String MAX_NEW_TOKENS = "batcher.max.new.tokens";
  public static final String MAX_CONTEXT_TOKENS = "batcher.max.context.tokens";
  public static final String DEDUP_WINDOW_MS = "batcher.dedup.window.ms";
  public static final String TENANCY = "batcher.tenancy";
  public static final String REPLY_TOPIC_PATTERN = "batcher.reply.topic.pattern";
  public static final String REPLY_TOPIC_CACHE_MS = "batcher.reply.topic.cache.ms";
  public static final String REPLY_TOPIC_RECHECK_MS = "batcher.reply.topic.recheck.ms";
  public static final String BATCHES_PARTITIONS = "batcher.batches.partitions";
  public static final String AFFINITY_SPREAD = "batcher.affinity.spread";
  public static final String RESIDENCY_MAX_AGE_MS = "batcher.residency.max.age.ms";
  public static final String HASH_BALANCE_FACTOR = "batcher.hash.balance.factor";
  public static final String METRICS_PORT = "batcher.metrics.port";
  public static final String HEALTH_STALL_MS = "batcher.health.stall.ms";
  public static final String THREAD_REPLACEMENTS_MAX = "batcher.thread.replacements.max";
  public static final String THREAD_REPLACEMENTS_WINDOW_MS =
      "batcher.thread.replacements.window.ms";

  /** The placeholder in {@link #REPLY_TOPIC_PATTERN} replaced by the request's tenantId. */
  public static final String TENANT_PLACEHOLDER = "{tenant}";

  /** Every {@code batcher.*} key with its default, in documentation order. */
  public static final Map<String, String> DEFAULTS = defaultsMap();

  /** Environment variable → {@code batcher.*} key ({@link EnvKeys}). */
  private static final EnvKeys ENV = EnvKeys.of(DEFAULTS.keySet());

  private static Map<String, String> defaultsMap() {
    Map<String, String> d = new LinkedHashMap<>();
    d.put(MAX_BATCH_TOKENS, "8192");
    d.put(MAX_BATCH_REQUESTS, "32");
    d.put(MAX_DISTINCT_ADAPTERS, "8");
    d.put(MAX_WAIT_MS, "50");
    d.put(MAX_PROMPT_TOKENS, "3072");
    d.put(MAX_NEW_TOKENS, "1024");
    d.put(MAX_CONTEXT_TOKENS, "0");
    // Longer than a client's retries of one request (LoraClient's default timeout is 60 s) and a
    // batcher restart; short enough that the store stays small (about rate × window pairs).
    d.put(DEDUP_WINDOW_MS, "600000");
    d.put(TENANCY, Tenancy.SHARED.configValue());
    d.put(REPLY_TOPIC_PATTERN, "lora.replies,lora.replies." + TENANT_PLACEHOLDER);
    d.put(REPLY_TOPIC_CACHE_MS, Long.toString(ReplyTopicCache.DEFAULT_EXISTS_TTL_MS));
    d.put(REPLY_TOPIC_RECHECK_MS, Long.toString(ReplyTopicCache.DEFAULT_MISSING_TTL_MS));
    d.put(BATCHES_PARTITIONS, "0");
    d.put(AFFINITY_SPREAD, "2");
    // five of the consumers' residency intervals (1 s): one lost record does not drop a consumer
    d.put(RESIDENCY_MAX_AGE_MS, "5000");
    // a partition takes up to 1.1 x the mean: with two consumers one gets at most 55 % (bench
    // scale: 125, HAProxy's usual value, left one of two consumers 62 % and capped the pair at
    // 1.6 x one)
    d.put(HASH_BALANCE_FACTOR, "110");
    d.put(METRICS_PORT, Integer.toString(MetricsServer.DEFAULT_PORT));
    d.put(HEALTH_STALL_MS, "30000");
    d.put(THREAD_REPLACEMENTS_MAX, "3");
    d.put(THREAD_REPLACEMENTS_WINDOW_MS, "60000");
    return Collections.unmodifiableMap(d); // keeps documentation order
  }

  public BatcherConfig {
    Objects.requireNonNull(tenancy, TENANCY);
    replyTopicPatterns = List.copyOf(replyTopicPatterns);
    kafka = Map.copyOf(kafka);
    require(maxBatchTokens >= 1, MAX_BATCH_TOKENS, maxBatchTokens, ">= 1");
    require(maxBatchRequests >= 1, MAX_BATCH_REQUESTS, maxBatchRequests, ">= 1");
    require(maxDistinctAdapters >= 1, MAX_DISTINCT_ADAPTERS, maxDistinctAdapters, ">= 1");
    require(maxWaitMs >= 1, MAX_WAIT_MS, maxWaitMs, ">= 1");
    require(maxPromptTokens >= 1, MAX_PROMPT_TOKENS, maxPromptTokens, ">= 1");
    require(maxNewTokens >= 1, MAX_NEW_TOKENS, maxNewTokens, ">= 1");
    require(maxContextTokens >= 0, MAX_CONTEXT_TOKENS, maxContextTokens, ">= 0 (0 = unknown)");
    require(dedupWindowMs >= 1, DEDUP_WINDOW_MS, dedupWindowMs, ">= 1");
    require(
        (long) maxPromptTokens + maxNewTokens <= maxBatchTokens,
        MAX_BATCH_TOKENS,
        maxBatchTokens,
        ">= "
            + MAX_PROMPT_TOKENS
            + " + "
            + MAX_NEW_TOKENS
            + " = "
            + ((long) maxPromptTokens + maxNewTokens)
            + ", so that every valid request fits a batch on its own");
    require(
        !replyTopicPatterns.isEmpty(),
        REPLY_TOPIC_PATTERN,
        replyTopicPatterns,
        "at least one topic");
    require(
        replyTopicCacheMs >= 0,
        REPLY_TOPIC_CACHE_MS,
        replyTopicCacheMs,
        ">= 0 (0 = ask every time)");
    require(
        replyTopicRecheckMs >= 0,
        REPLY_TOPIC_RECHECK_MS,
        replyTopicRecheckMs,
        ">= 0 (0 = ask every time)");
    require(batchesPartitions >= 0, BATCHES_PARTITIONS, batchesPartitions, ">= 0 (0 = any)");
    require(affinitySpread >= 1, AFFINITY_SPREAD, affinitySpread, ">= 1");
    require(
        residencyMaxAgeMs >= 0,
        RESIDENCY_MAX_AGE_MS,
        residencyMaxAgeMs,
        ">= 0 (0 = route by hash only)");
    require(
        hashBalanceFactor == 0 || hashBalanceFactor > 100,
        HASH_BALANCE_FACTOR,
        hashBalanceFactor,
        "0 (no bound) or a percent > 100");
    require(
        metricsPort >= -1 && metricsPort <= 65535,
        METRICS_PORT,
        metricsPort,
        "-1 (off), 0 (any) or a port");
    require(healthStallMs >= 1, HEALTH_STALL_MS, healthStallMs, ">= 1");
    require(
        threadReplacementsMax >= 0,
        THREAD_REPLACEMENTS_MAX,
        threadReplacementsMax,
        ">= 0 (0 = never replace a failed stream thread)");
    require(
        threadReplacementsWindowMs >= 1,
        THREAD_REPLACEMENTS_WINDOW_MS,
        threadReplacementsWindowMs,
        ">= 1");
  }

  /** All defaults, no Kafka settings (for tests and as a base). */
  public static BatcherConfig defaults() {
    return fromProperties(new Properties());
  }

  /**
   * Reads {@code batcher.*} keys (missing ones take {@link #DEFAULTS}); every other key goes to
   * {@link #kafka}.
   */
  public static BatcherConfig fromProperties(Properties props) {
    Map<String, String> all = new LinkedHashMap<>(DEFAULTS);
    Map<String, String> kafka = new LinkedHashMap<>();
    for (String name : props.stringPropertyNames()) {
      String value = props.getProperty(name).trim();
      if (name.startsWith("batcher.")) {
        if (!DEFAULTS.containsKey(name)) {
          throw new IllegalArgumentException(
              "unknown config key " + name + "; known: " + DEFAULTS.keySet());
        }
        all.put(name, value);
      } else {
        kafka.put(name, value);
      }
    }
    Function<String, Integer> i = key -> parse(key, all.get(key));
    return new BatcherConfig(
        i.apply(MAX_BATCH_TOKENS),
        i.apply(MAX_BATCH_REQUESTS),
        i.apply(MAX_DISTINCT_ADAPTERS),
        i.apply(MAX_WAIT_MS),
        i.apply(MAX_PROMPT_TOKENS),
        i.apply(MAX_NEW_TOKENS),
        i.apply(MAX_CONTEXT_TOKENS),
        i.apply(DEDUP_WINDOW_MS),
        Tenancy.parse(TENANCY, all.get(TENANCY)),
        Arrays.stream(all.get(REPLY_TOPIC_PATTERN).split(","))
            .map(String::trim)
            .filter(s -> !s.isEmpty())
            .toList(),
        i.apply(REPLY_TOPIC_CACHE_MS),
        i.apply(REPLY_TOPIC_RECHECK_MS),
        i.apply(BATCHES_PARTITIONS),
        i.apply(AFFINITY_SPREAD),
        i.apply(RESIDENCY_MAX_AGE_MS),
        i.apply(HASH_BALANCE_FACTOR),
        i.apply(METRICS_PORT),
        i.apply(HEALTH_STALL_MS),
        i.apply(THREAD_REPLACEMENTS_MAX),
        i.apply(THREAD_REPLACEMENTS_WINDOW_MS),
        kafka);
  }

  /**
   * Properties from the environment, for containers, by the rule of {@link EnvKeys}: {@code
   * BATCHER_MAX_WAIT_MS} becomes {@code batcher.max.wait.ms}, {@code KAFKA_BOOTSTRAP_SERVERS}
   * becomes {@code bootstrap.servers} (the {@code KAFKA_} prefix is dropped), {@code
   * SCHEMA_REGISTRY_URL} becomes {@code schema.registry.url}. Other variables are ignored. Entries
   * here override those of {@code base}.
   */
  public static Properties withEnv(Properties base, Map<String, String> env) {
    Properties p = new Properties();
    p.putAll(base);
    env.forEach(
        (name, value) -> {
          String key = null;
          if (name.startsWith("BATCHER_")) {
            key = ENV.key(name);
          } else if (name.startsWith("KAFKA_")) {
            key = EnvKeys.dotted(name.substring("KAFKA_".length()));
          } else if (name.equals("SCHEMA_REGISTRY_URL")) {
            key = "schema.registry.url";
          }
          if (key != null) {
            p.setProperty(key, value);
          }
        });
    return p;
  }

  /**
   * The reply topics {@code tenantId} may name in {@code InferenceRequest.replyTopic}: in topics
   * mode its own {@code lora.tenant.<t>.replies} only (none for a string that is no tenant name).
   */
  public Set<String> allowedReplyTopics(String tenantId) {
    if (tenancy == Tenancy.TOPICS) {
      return Tenants.isName(tenantId) ? Set.of(Tenants.repliesTopic(tenantId)) : Set.of();
    }
    return replyTopicPatterns.stream()
        .map(t -> t.replace(TENANT_PLACEHOLDER, tenantId))
        .collect(Collectors.toUnmodifiableSet());
  }

  /** A copy with some {@code batcher.*} or Kafka keys replaced, e.g. for tests. */
  public BatcherConfig with(Map<String, String> overrides) {
    Properties p = toProperties();
    overrides.forEach(p::setProperty);
    return fromProperties(p);
  }

  /** Every key, {@code batcher.*} and pass-through, as Properties. */
  public Properties toProperties() {
    Properties p = new Properties();
    p.putAll(kafka);
    p.setProperty(MAX_BATCH_TOKENS, Integer.toString(maxBatchTokens));
    p.setProperty(MAX_BATCH_REQUESTS, Integer.toString(maxBatchRequests));
    p.setProperty(MAX_DISTINCT_ADAPTERS, Integer.toString(maxDistinctAdapters));
    p.setProperty(MAX_WAIT_MS, Long.toString(maxWaitMs));
    p.setProperty(MAX_PROMPT_TOKENS, Integer.toString(maxPromptTokens));
    p.setProperty(MAX_NEW_TOKENS, Integer.toString(maxNewTokens));
    p.setProperty(MAX_CONTEXT_TOKENS, Integer.toString(maxContextTokens));
    p.setProperty(DEDUP_WINDOW_MS, Long.toString(dedupWindowMs));
    p.setProperty(TENANCY, tenancy.configValue());
    p.setProperty(REPLY_TOPIC_PATTERN, String.join(",", replyTopicPatterns));
    p.setProperty(REPLY_TOPIC_CACHE_MS, Long.toString(replyTopicCacheMs));
    p.setProperty(REPLY_TOPIC_RECHECK_MS, Long.toString(replyTopicRecheckMs));
    p.setProperty(BATCHES_PARTITIONS, Integer.toString(batchesPartitions));
    p.setProperty(AFFINITY_SPREAD, Integer.toString(affinitySpread));
    p.setProperty(RESIDENCY_MAX_AGE_MS, Long.toString(residencyMaxAgeMs));
    p.setProperty(HASH_BALANCE_FACTOR, Integer.toString(hashBalanceFactor));
    p.setProperty(METRICS_PORT, Integer.toString(metricsPort));
    p.setProperty(HEALTH_STALL_MS, Long.toString(healthStallMs));
    p.setProperty(THREAD_REPLACEMENTS_MAX, Integer.toString(threadReplacementsMax));
    p.setProperty(THREAD_REPLACEMENTS_WINDOW_MS, Long.toString(threadReplacementsWindowMs));
    return p;
  }

  private static int parse(String key, String value) {
    try {
      return Integer.parseInt(Objects.requireNonNull(value, key));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(key + "=" + value + " is not an integer");
    }
  }

  private static void require(boolean ok, String key, Object value, String rule) {
    if (!ok) {
      throw new IllegalArgumentException(key + "=" + value + " is invalid: must be " + rule);
    }
  }
}
