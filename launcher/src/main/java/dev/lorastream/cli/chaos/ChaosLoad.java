package dev.lorastream.cli.chaos;

import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.SamplingParams;
import dev.lorastream.schemas.Topics;
import dev.lorastream.schemas.serde.AvroSerdeConfig;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The chaos run's upstream: one thread that writes {@code count} requests to {@code lora.requests}
 * at an even pace over {@code durationMs}, with mixed output lengths over several tenants and their
 * own or public adapters (shared tenancy: the tenant is the {@code tenantId} field), half of the
 * tenants on their own reply topic. A request counts as sent once the broker acknowledged it
 * (idempotent producer, {@code acks=all}, retried through a broker restart); {@link #sentAt} holds
 * each sent id with the time it was created. One thread and one producer: sending is cheap next to
 * the services it loads.
 */
final class ChaosLoad implements Runnable {
  static final int[] MAX_TOKENS = {1, 4, 16, 48};

  private final String bootstrap;
  private final Map<String, Object> serde;
  private final ChaosWorkload workload;
  private final int count;
  private final long durationMs;
  final Map<String, Long> sentAt = new ConcurrentHashMap<>();
  final AtomicInteger failed = new AtomicInteger();
  final AtomicReference<Exception> lastError = new AtomicReference<>();

  private final String idPrefix;
  private final long seed;
  private final int[] maxTokens;

  ChaosLoad(String bootstrap, String registry, ChaosWorkload workload, int count, long durationMs) {
    this(bootstrap, registry, workload, count, durationMs, "chaos-", 14, MAX_TOKENS);
  }

  /**
   * A load whose request ids are {@code idPrefix + i} and whose mix is drawn from {@code seed},
   * each request's {@code maxTokens} one of {@code maxTokens}; {@code durationMs} 0 sends them all
   * at once.
   */
  ChaosLoad(
      String bootstrap,
      String registry,
      ChaosWorkload workload,
      int count,
      long durationMs,
      String idPrefix,
      long seed,
      int[] maxTokens) {
    this.maxTokens = maxTokens.clone();
    this.idPrefix = idPrefix;
    this.seed = seed;
    this.bootstrap = bootstrap;
    this.serde = Map.of(AvroSerdeConfig.SCHEMA_REGISTRY_URL, registry);
    this.workload = workload;
    this.count = count;
    this.durationMs = durationMs;
  }

  Thread start() {
    return Thread.ofPlatform().name("chaos-load").daemon().start(this);
  }

  @Override
  public void run() {
    SplittableRandom rnd = new SplittableRandom(seed);
    try (KafkaProducer<String, InferenceRequest> p =
        new KafkaProducer<>(
            Map.of(
                "bootstrap.servers",
                bootstrap,
                "client.id",
                idPrefix + "load",
                "acks",
                "all",
                "enable.idempotence",
                true,
                "linger.ms",
                5,
                "delivery.timeout.ms",
                180_000,
                "max.block.ms",
                120_000),
            new StringSerializer(),
            Topics.REQUESTS.valueSerde(serde).serializer())) {
      long t0 = System.currentTimeMillis();
      for (int i = 0; i < count; i++) {
        long due = t0 + durationMs * i / count;
        long wait = due - System.currentTimeMillis();
        if (wait > 0) {
          Thread.sleep(wait);
        }
        InferenceRequest r = request(idPrefix + i, rnd);
        long created = r.getCreatedEpochMs();
        p.send(
            new ProducerRecord<>(Topics.REQUESTS.name(), r.getRequestId(), r),
            (md, e) -> {
              if (e == null) {
                sentAt.put(r.getRequestId(), created);
              } else {
                failed.incrementAndGet();
                lastError.set(e);
              }
            });
      }
      p.flush();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (RuntimeException e) {
      lastError.set(e);
    }
  }

  private InferenceRequest request(String id, SplittableRandom rnd) {
    String tenant = workload.tenants().get(rnd.nextInt(workload.tenants().size()));
    List<String> usable = workload.usableBy(tenant);
    String adapter = rnd.nextInt(6) == 0 ? null : usable.get(rnd.nextInt(usable.size()));
    List<Integer> prompt = new ArrayList<>();
    int len = 2 + rnd.nextInt(12);
    for (int k = 0; k < len; k++) {
      prompt.add(1 + rnd.nextInt(workload.vocab() - 1));
    }
    return InferenceRequest.newBuilder()
        .setRequestId(id)
        .setTenantId(tenant)
        .setAdapterId(adapter)
        .setPromptTokenIds(prompt)
        .setReplyTopic(workload.replyTopic(tenant))
        .setCreatedEpochMs(System.currentTimeMillis())
        .setSampling(
            SamplingParams.newBuilder()
                .setMaxTokens(maxTokens[rnd.nextInt(maxTokens.length)])
                .setTemperature(0.8f)
                .setTopP(0.95f)
                .setSeed(rnd.nextLong())
                .build())
        .build();
  }
}
