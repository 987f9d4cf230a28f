package dev.lorastream.consumer;

import dev.lorastream.schemas.AdapterCatalogRule;
import dev.lorastream.schemas.AdapterRecord;
import dev.lorastream.schemas.Topics;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * The adapter catalog: a live view of the compacted {@code lora.adapters} topic, read from the
 * beginning on a background thread (every partition assigned, no group), each record read with
 * {@link AdapterCatalogRule}, the rule the batcher reads the topic with.
 *
 * <p>A record the rule skips (undecodable, no key, ...) is logged, counted ({@link #skipped}) and
 * passed over; the batcher writes it to {@code lora.adapters.dlq}. Any other failure (broker or
 * registry unreachable, the topic missing) is logged and retried from the first record not yet
 * applied, after a growing backoff (0.2 s to 5 s). The reader is {@link #live} while its thread
 * runs, no call has hung and no failure streak has lasted longer than {@code staleAfter} (15 s by
 * default), so a reader that keeps failing, hangs or died turns the consumer's {@code /health} DOWN
 * within that time.
 *
 * <p>When an adapter's weights may have changed ({@link AdapterCatalogRule#weightsChanged}: added,
 * deleted, new source, checksum or registration), the {@link #onChange} listener is told, after the
 * new entry is visible to {@link #get}. Thread-safe.
 */
public final class AdapterCatalog implements AutoCloseable {
  /** How long without a successful poll before the reader counts as stuck. */
  static final Duration STALE_AFTER = Duration.ofSeconds(15);

  private final Map<String, AdapterRecord> adapters = new ConcurrentHashMap<>();
  private final AdapterCatalogRule rule;
  private final KafkaConsumer<String, byte[]> consumer;
  private final Thread thread;
  private final CountDownLatch caughtUp = new CountDownLatch(1);
  private final long staleAfterNanos;
  private final AtomicLong skipped = new AtomicLong();
  private volatile long lastTurnNanos = System.nanoTime(); // end of the last loop turn
  private volatile long failingSinceNanos; // first failure of the current streak; 0: none
  private volatile Throwable lastError;
  private volatile Consumer<String> onChange = id -> {};
  private volatile boolean running = true;

  public AdapterCatalog(String bootstrap, Map<String, ?> serdeConfig) {
    this(Map.of("bootstrap.servers", bootstrap), serdeConfig);
  }

  /**
   * @param kafka Kafka client settings of the catalog reader: {@code bootstrap.servers} and any
   *     other (security settings); the reader's own ones below win
   */
  public AdapterCatalog(Map<String, Object> kafka, Map<String, ?> serdeConfig) {
    this(kafka, AdapterCatalogRule.of(serdeConfig), STALE_AFTER);
  }

  AdapterCatalog(String bootstrap, AdapterCatalogRule rule, Duration staleAfter) {
    this(Map.of("bootstrap.servers", bootstrap), rule, staleAfter);
  }

  /**
   * @param rule how records are read (tests pass one whose decoder fails)
   * @param staleAfter how long without a successful poll before {@link #live} turns false
   */
  AdapterCatalog(Map<String, Object> kafka, AdapterCatalogRule rule, Duration staleAfter) {
    this.rule = rule;
    this.staleAfterNanos = staleAfter.toNanos();
    Map<String, Object> config = new HashMap<>(kafka);
    config.putAll(
        Map.of(
            "enable.auto.commit",
            false,
            "isolation.level",
            "read_committed",
            "client.id",
            "lorastream-catalog"));
    this.consumer =
        new KafkaConsumer<>(config, new StringDeserializer(), new ByteArrayDeserializer());
    this.thread = new Thread(this::run, "adapter-catalog");
    this.thread.setDaemon(true);
    this.thread.start();
  }

  /**
   * Who to tell, on the catalog thread, about an adapter whose weights may have changed (the
   * engine's {@code invalidateAdapter}). It must not block; an exception it throws is logged.
   */
  public void onChange(Consumer<String> listener) {
    this.onChange = listener;
  }

  /**
   * The adapter, waiting up to {@code timeout} for it to appear (the batcher may have seen it
   * first).
   */
  public AdapterRecord get(String adapterId, Duration timeout) throws InterruptedException {
    long end = System.nanoTime() + timeout.toNanos();
    AdapterRecord r;
    while ((r = adapters.get(adapterId)) == null && System.nanoTime() < end) {
      Thread.sleep(20);
    }
    return r;
  }

  /**
   * Waits until everything that was in the topic when the reader first reached it has been read;
   * false when that did not happen within {@code timeout} (see {@link #lastError} for why).
   */
  public boolean awaitCaughtUp(Duration timeout) throws InterruptedException {
    return caughtUp.await(timeout.toMillis(), TimeUnit.MILLISECONDS);
  }

  public int size() {
    return adapters.size();
  }

  /** Records skipped by {@link AdapterCatalogRule} since start. */
  public long skipped() {
    return skipped.get();
  }

  /** The failure of the last attempt to read, or null when the last poll succeeded. */
  public Throwable lastError() {
    return lastError;
  }

  /**
   * Whether the reader runs, is not stuck inside a call for more than {@code staleAfter}, and has
   * not been failing for more than {@code staleAfter}. Never blocks.
   */
  public boolean live() {
    long now = System.nanoTime();
    long failingSince = failingSinceNanos;
    return thread.isAlive()
        && now - lastTurnNanos <= staleAfterNanos
        && (failingSince == 0 || now - failingSince <= staleAfterNanos);
  }

  private void run() {
    RetryBackoff backoff = RetryBackoff.of(200, 5_000);
    Map<TopicPartition, Long> next = null; // first offset not yet applied, per partition
    Map<TopicPartition, Long> end = null; // where the topic ended when the reader reached it
    try {
      while (running) {
        try {
          if (next == null) {
            List<TopicPartition> parts = partitions();
            consumer.assign(parts);
            consumer.seekToBeginning(parts);
            Map<TopicPartition, Long> start = new HashMap<>();
            for (TopicPartition p : parts) {
              start.put(p, consumer.position(p));
            }
            end = consumer.endOffsets(parts);
            next = start;
          }
          int applied = 0;
          for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(200))) {
            apply(r);
            next.put(new TopicPartition(r.topic(), r.partition()), r.offset() + 1);
            applied++;
          }
          if (caughtUp.getCount() > 0 && atEnd(end)) {
            caughtUp.countDown();
          }
          // An empty poll right after a failure proves nothing (the failed record may not be
          // fetched again yet): the streak ends with a record applied, or at the end of the topic.
          if (failingSinceNanos != 0 && (applied > 0 || atEnd(consumer.endOffsets(end.keySet())))) {
            failingSinceNanos = 0;
            lastError = null;
            backoff.succeeded();
          }
          lastTurnNanos = System.nanoTime();
        } catch (WakeupException e) {
          // close(): the loop ends on running == false
        } catch (RuntimeException e) {
          lastError = e;
          if (failingSinceNanos == 0) {
            failingSinceNanos = System.nanoTime();
          }
          long waitMs = backoff.failed();
          System.err.println(
              "adapter catalog: reading "
                  + Topics.ADAPTERS.name()
                  + " failed (attempt "
                  + backoff.failures()
                  + "), retrying in "
                  + waitMs
                  + " ms from "
                  + next
                  + ": "
                  + e);
          rewind(next);
          LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(waitMs));
          lastTurnNanos = System.nanoTime();
        }
      }
    } catch (Throwable t) {
      lastError = t;
      System.err.println("adapter catalog: the reader stopped: " + t);
      throw t;
    } finally {
      consumer.close();
    }
  }

  private List<TopicPartition> partitions() {
    List<PartitionInfo> infos =
        consumer.partitionsFor(Topics.ADAPTERS.name(), Duration.ofSeconds(30));
    if (infos == null || infos.isEmpty()) {
      throw new IllegalStateException(
          "topic "
              + Topics.ADAPTERS.name()
              + " does not exist or cannot be described (the consumer does not create topics)");
    }
    return infos.stream().map(p -> new TopicPartition(p.topic(), p.partition())).toList();
  }

  private boolean atEnd(Map<TopicPartition, Long> end) {
    return end.entrySet().stream().allMatch(e -> consumer.position(e.getKey()) >= e.getValue());
  }

  /** After a failure: read again from the first record not applied. */
  private void rewind(Map<TopicPartition, Long> next) {
    if (next == null) {
      return;
    }
    try {
      next.forEach(consumer::seek);
    } catch (RuntimeException e) {
      System.err.println("adapter catalog: cannot rewind to " + next + ": " + e);
    }
  }

  private void apply(ConsumerRecord<String, byte[]> r) {
    switch (rule.read(r.topic(), r.headers(), r.key(), r.value())) {
      case AdapterCatalogRule.Put put -> {
        AdapterRecord before = adapters.put(put.adapterId(), put.record());
        if (AdapterCatalogRule.weightsChanged(before, put.record())) {
          changed(put.adapterId());
        }
      }
      case AdapterCatalogRule.Delete del -> {
        if (adapters.remove(del.adapterId()) != null) {
          changed(del.adapterId());
        }
      }
      case AdapterCatalogRule.Skip skip -> {
        skipped.incrementAndGet();
        System.err.println(
            "adapter catalog: skipping "
                + r.topic()
                + "-"
                + r.partition()
                + "@"
                + r.offset()
                + " (key "
                + r.key()
                + "): "
                + skip.reason()
                + ": "
                + skip.detail()
                + " (the batcher writes it to "
                + Topics.ADAPTERS_DLQ.name()
                + ")");
      }
    }
  }

  private void changed(String adapterId) {
    try {
      onChange.accept(adapterId);
    } catch (RuntimeException e) {
      System.err.println("adapter catalog: change listener failed for '" + adapterId + "': " + e);
    }
  }

  @Override
  public void close() {
    running = false;
    consumer.wakeup();
    LockSupport.unpark(thread);
    try {
      thread.join(5_000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
