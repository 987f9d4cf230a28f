package dev.lorastream.consumer;

import dev.lorastream.engine.sched.AdapterResidency;
import dev.lorastream.schemas.ConsumerResidency;
import dev.lorastream.schemas.Topics;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;
import java.util.function.Supplier;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Publishes what this consumer holds to the compacted {@code lora.residency} ({@link
 * ConsumerResidency}, keyed by consumer id) every {@code
 * lorastream.consumer.residency.interval.ms}: its {@code lora.batches} partitions and the adapters
 * in its engine's backend pool and host memory ({@link
 * dev.lorastream.engine.sched.Engine#residency}), so that the batchers route a batch to a consumer
 * that holds its adapter. A hint only: a lost or late record costs a load, never a result, so it
 * goes through a producer of its own, outside the consumer's transactions, and a failed send is
 * counted ({@code lorastream.consumer.residency.errors}), printed once per kind of failure, and
 * otherwise ignored. {@link #close} ends the loop and writes a tombstone, so that the batchers stop
 * routing by this consumer at once.
 *
 * <p>{@link #run} is the publishing thread's loop; {@link #close} may be called from any thread.
 */
final class ResidencyPublisher implements Runnable, AutoCloseable {
  /**
   * The longest a send waits for {@code lora.residency}'s metadata (a missing topic, a broker away)
   * before it fails: the publishing thread, and the tombstone at {@link #close}, never wait longer.
   */
  static final int MAX_BLOCK_MS = 5000;

  /** How long {@link #close} waits for the loop to end, then for the tombstone to be written. */
  static final Duration CLOSE_TIMEOUT = Duration.ofSeconds(2);

  /** Waits between two records; false when the publisher was closed meanwhile (stop the loop). */
  @FunctionalInterface
  interface Pause {
    boolean await(long ms) throws InterruptedException;
  }

  private final Producer<String, ConsumerResidency> producer;
  private final String consumerId;
  private final Supplier<? extends Collection<Integer>> partitions;
  private final Supplier<AdapterResidency> residency;
  private final long intervalMs;
  private final LongSupplier clockMs;
  private final Pause pause;
  private final Counter errors;
  private final Set<String> loggedKinds = ConcurrentHashMap.newKeySet();
  private final CountDownLatch closed = new CountDownLatch(1);
  // sends begun less those failed: 0 when nothing of ours can be on the topic (no tombstone then)
  private final AtomicLong notFailed = new AtomicLong();
  private volatile Thread runner;
  private boolean closeDone; // guarded by this

  /**
   * @param producer the publisher's own producer, closed by {@link #close}
   * @param consumerId the key, and the record's {@code consumerId}
   * @param partitions the {@code lora.batches} partitions assigned now (thread-safe to read)
   * @param residency the engine's adapters now ({@link
   *     dev.lorastream.engine.sched.Engine#residency})
   * @param intervalMs time between two records, more than 0
   * @param clockMs the wall clock, epoch milliseconds ({@code publishedEpochMs})
   * @param pause how the loop waits {@code intervalMs}; null: sleeps until then or {@link #close}
   */
  ResidencyPublisher(
      Producer<String, ConsumerResidency> producer,
      String consumerId,
      Supplier<? extends Collection<Integer>> partitions,
      Supplier<AdapterResidency> residency,
      long intervalMs,
      LongSupplier clockMs,
      Pause pause,
      MeterRegistry registry) {
    if (intervalMs <= 0) {
      throw new IllegalArgumentException("the residency interval must be > 0, not " + intervalMs);
    }
    this.producer = producer;
    this.consumerId = consumerId;
    this.partitions = partitions;
    this.residency = residency;
    this.intervalMs = intervalMs;
    this.clockMs = clockMs;
    this.pause = pause != null ? pause : ms -> !closed.await(ms, TimeUnit.MILLISECONDS);
    this.errors =
        Counter.builder("lorastream.consumer.residency.errors")
            .description("residency records (and tombstones) of lora.residency not written")
            .register(registry);
  }

  /**
   * A publisher for consumer {@code s} with its own producer: not transactional, {@code acks=1},
   * waiting at most {@link #MAX_BLOCK_MS} for the topic's metadata. Publishes every {@link
   * ConsumerSettings#residencyIntervalMs}, which must be more than 0 (0 means none is made).
   */
  static ResidencyPublisher create(
      ConsumerSettings s,
      Map<String, ?> serde,
      Supplier<? extends Collection<Integer>> partitions,
      Supplier<AdapterResidency> residency,
      MeterRegistry registry) {
    Producer<String, ConsumerResidency> producer =
        new KafkaProducer<>(
            s.clientConfig(
                Map.of(
                    "client.id",
                    s.consumerId() + "-residency",
                    "acks",
                    "1",
                    "enable.idempotence",
                    false,
                    "max.block.ms",
                    MAX_BLOCK_MS)),
            new StringSerializer(),
            Topics.RESIDENCY.valueSerde(serde).serializer());
    return new ResidencyPublisher(
        producer,
        s.consumerId(),
        partitions,
        residency,
        s.residencyIntervalMs(),
        System::currentTimeMillis,
        null,
        registry);
  }

  /**
   * The record of consumer {@code consumerId} holding {@code partitions} (sorted ascending) and
   * {@code residency}'s adapters (in its order), published at {@code nowMs}.
   */
  static ConsumerResidency record(
      String consumerId, Collection<Integer> partitions, AdapterResidency residency, long nowMs) {
    List<Integer> sorted = new ArrayList<>(partitions);
    sorted.sort(null);
    return ConsumerResidency.newBuilder()
        .setConsumerId(consumerId)
        .setBatchPartitions(sorted)
        .setBackendAdapters(new ArrayList<>(residency.backend()))
        .setHostAdapters(new ArrayList<>(residency.host()))
        .setPublishedEpochMs(nowMs)
        .build();
  }

  /** Publishes a record, then one each interval, until {@link #close}. */
  @Override
  public void run() {
    runner = Thread.currentThread();
    try {
      while (closed.getCount() > 0) {
        publish();
        if (!pause.await(intervalMs)) {
          break;
        }
      }
    } catch (InterruptedException e) {
      // close() gave up waiting for a send blocked on the topic's metadata
    }
  }

  /** Sends the record of now (what {@link #run} does each interval); a failure is only counted. */
  void publish() {
    ConsumerResidency value;
    try {
      value = record(consumerId, partitions.get(), residency.get(), clockMs.getAsLong());
    } catch (RuntimeException e) {
      failed(e);
      return;
    }
    send(value);
  }

  /**
   * Sends {@code value} (null: the tombstone) under the consumer id; a failure, at once or later on
   * the producer's thread, is only counted. A send interrupted while it waits for metadata leaves
   * the thread's interrupt flag set (Kafka's {@code InterruptException}), which ends {@link #run}'s
   * next pause.
   */
  private void send(ConsumerResidency value) {
    notFailed.incrementAndGet();
    try {
      producer.send(
          new ProducerRecord<>(Topics.RESIDENCY.name(), consumerId, value),
          (md, e) -> {
            if (e != null) {
              notFailed.decrementAndGet();
              failed(e);
            }
          });
    } catch (RuntimeException e) {
      notFailed.decrementAndGet();
      failed(e);
    }
  }

  /**
   * A record not written: counted, and printed the first time its kind of failure (the exception's
   * class) is seen, so that a missing topic or ACL shows once instead of every second.
   */
  private void failed(Exception e) {
    errors.increment();
    if (loggedKinds.add(e.getClass().getName())) {
      System.err.println(
          "consumer "
              + consumerId
              + ": cannot publish to "
              + Topics.RESIDENCY.name()
              + " (routing hints only; serving goes on, later failures of this kind are only"
              + " counted in lorastream.consumer.residency.errors): "
              + e);
    }
  }

  /**
   * Ends the loop (waits for it up to {@link #CLOSE_TIMEOUT}, then interrupts it), sends the
   * tombstone, unless every send so far failed (then nothing of this consumer is on the topic, and
   * a tombstone would only wait for metadata that does not come), and closes the producer, which
   * waits up to {@link #CLOSE_TIMEOUT} for what was sent to be written. Idempotent.
   */
  @Override
  public void close() {
    synchronized (this) {
      if (closeDone) {
        return;
      }
      closeDone = true;
    }
    closed.countDown();
    Thread t = runner;
    if (t != null && t != Thread.currentThread()) {
      try {
        t.join(CLOSE_TIMEOUT.toMillis());
        if (t.isAlive()) {
          t.interrupt(); // blocked in a send, waiting for metadata
          t.join(CLOSE_TIMEOUT.toMillis());
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    if (notFailed.get() > 0) {
      send(null);
    }
    producer.close(CLOSE_TIMEOUT);
  }
}
