package dev.lorastream.consumer;

import dev.lorastream.schemas.CancelRequest;
import dev.lorastream.schemas.Tenancy;
import dev.lorastream.schemas.Tenants;
import dev.lorastream.schemas.Topics;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.errors.RecordDeserializationException;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * Applies clients' cancels ({@link CancelRequest} on {@code lora.cancel}, or every {@code
 * lora.tenant.<t>.cancel} in topics tenancy) to the requests this consumer is computing. A request
 * is named by (tenant, requestId): a cancel is applied only to the request of its own tenant; in
 * topics tenancy its tenant is its topic's (the one principal allowed to write it), and a record
 * claiming another tenant is refused. Outcomes are counted in {@code lorastream.consumer.cancels}
 * by {@code outcome}: {@code applied}, {@code other_tenant} (the id is being computed for another
 * tenant: refused), {@code forged} (tenantId is not the topic's), {@code unknown} (not computed
 * here: never sent, finished, or on another consumer; ignored), {@code undecodable}.
 *
 * <p>Every consumer reads every cancel: its Kafka consumer has a group of its own ({@code
 * <group>.cancel.<consumerId>}), starts at the end, and commits nothing. {@link #track} and {@link
 * #untrack} are thread-safe; {@link #run} is the reader thread's loop.
 */
final class CancelReader implements Runnable {
  private final org.apache.kafka.clients.consumer.Consumer<String, CancelRequest> consumer;
  private final Tenancy tenancy;
  private final Consumer<String> cancel; // engine id -> Engine.cancel
  private final Map<String, Set<String>> computing = new ConcurrentHashMap<>(); // id -> tenants
  private final Map<String, Counter> outcomes = new ConcurrentHashMap<>();
  private final MeterRegistry registry;
  private volatile boolean running = true;
  private volatile boolean ran;

  CancelReader(
      org.apache.kafka.clients.consumer.Consumer<String, CancelRequest> consumer,
      Tenancy tenancy,
      Consumer<String> cancel,
      MeterRegistry registry) {
    this.consumer = consumer;
    this.tenancy = tenancy;
    this.cancel = cancel;
    this.registry = registry;
    for (String o : new String[] {"applied", "other_tenant", "forged", "unknown", "undecodable"}) {
      counter(o);
    }
  }

  /** A reader for consumer {@code s}, applying cancels through {@code cancel}. */
  static CancelReader create(
      ConsumerSettings s, Map<String, ?> serde, Consumer<String> cancel, MeterRegistry registry) {
    var consumer =
        new KafkaConsumer<>(
            s.clientConfig(
                Map.of(
                    "group.id",
                    s.groupId() + ".cancel." + s.consumerId(),
                    "client.id",
                    s.consumerId() + "-cancel",
                    "enable.auto.commit",
                    false,
                    "auto.offset.reset",
                    "latest",
                    "metadata.max.age.ms",
                    5000)), // a new tenant's cancel topic is found soon
            new StringDeserializer(),
            Topics.CANCEL.valueSerde(serde).deserializer());
    return new CancelReader(consumer, s.tenancy(), cancel, registry);
  }

  /** The request (tenant, id) is being computed here from now on. */
  void track(String tenant, String id) {
    computing.computeIfAbsent(id, k -> ConcurrentHashMap.newKeySet()).add(tenant);
  }

  /** The request (tenant, id) is no longer computed here (it has its result). */
  void untrack(String tenant, String id) {
    computing.computeIfPresent(
        id,
        (k, tenants) -> {
          tenants.remove(tenant);
          return tenants.isEmpty() ? null : tenants;
        });
  }

  /** Subscribes; call before {@link #run}, on the thread that runs it. */
  void subscribe() {
    if (tenancy == Tenancy.TOPICS) {
      consumer.subscribe(Tenants.CANCEL_TOPIC_PATTERN);
    } else {
      consumer.subscribe(Set.of(Topics.CANCEL.name()));
    }
  }

  @Override
  public void run() {
    ran = true;
    try {
      subscribe();
      while (running) {
        try {
          for (ConsumerRecord<String, CancelRequest> r : consumer.poll(Duration.ofMillis(200))) {
            apply(r.topic(), r.value());
          }
        } catch (RecordDeserializationException e) {
          counter("undecodable").increment();
          consumer.seek(e.topicPartition(), e.offset() + 1);
        }
      }
    } catch (WakeupException e) {
      // stop()
    } finally {
      consumer.close(Duration.ofSeconds(2));
    }
  }

  /** Applies one cancel read from {@code topic}; returns its outcome. */
  String apply(String topic, CancelRequest c) {
    String outcome = outcome(topic, c);
    counter(outcome).increment();
    if (outcome.equals("applied")) {
      cancel.accept(RequestIntake.engineId(c.getTenantId(), c.getRequestId()));
    }
    return outcome;
  }

  private String outcome(String topic, CancelRequest c) {
    if (c == null) {
      return "undecodable";
    }
    if (tenancy == Tenancy.TOPICS
        && !Tenants.ofCancelTopic(topic).map(t -> t.equals(c.getTenantId())).orElse(false)) {
      return "forged";
    }
    Set<String> tenants = computing.get(c.getRequestId());
    if (tenants == null || tenants.isEmpty()) {
      return "unknown";
    }
    return tenants.contains(c.getTenantId()) ? "applied" : "other_tenant";
  }

  /** The count of cancels with {@code outcome}. */
  double count(String outcome) {
    return counter(outcome).count();
  }

  private Counter counter(String outcome) {
    return outcomes.computeIfAbsent(
        outcome,
        o ->
            Counter.builder("lorastream.consumer.cancels")
                .tag("outcome", o)
                .description("cancel records read, by what was done with them")
                .register(registry));
  }

  void stop() {
    running = false;
    consumer.wakeup();
  }

  /**
   * Stops, waits for {@code thread} (the one given {@link #run}), or closes the Kafka consumer when
   * it never ran.
   */
  void close(Thread thread) {
    stop();
    if (thread.isAlive()) {
      try {
        thread.join(5_000);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    } else if (!ran) {
      consumer.close(Duration.ZERO);
    }
  }
}
