package dev.lorastream.consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.engine.sched.AdapterResidency;
import dev.lorastream.schemas.ConsumerResidency;
import dev.lorastream.schemas.Topics;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.producer.MockProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.TimeoutException;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;

/**
 * {@link ResidencyPublisher} against a {@link MockProducer}: the record it builds, one per
 * interval, the tombstone at close, and failed sends counted without stopping it.
 */
class ResidencyPublisherTest {
  private final SimpleMeterRegistry meters = new SimpleMeterRegistry();
  private final Set<Integer> partitions = ConcurrentHashMap.newKeySet();
  private final AtomicReference<AdapterResidency> residency =
      new AtomicReference<>(AdapterResidency.EMPTY);
  private final AtomicLong clock = new AtomicLong(1_700_000_000_000L);

  /** A producer whose sends complete at once (successfully) unless told otherwise. */
  private static MockProducer<String, ConsumerResidency> producer(boolean autoComplete) {
    return new MockProducer<>(autoComplete, null, new StringSerializer(), (t, v) -> new byte[0]);
  }

  private ResidencyPublisher publisher(
      MockProducer<String, ConsumerResidency> p, long intervalMs, ResidencyPublisher.Pause pause) {
    return new ResidencyPublisher(
        p, "gpu-7", () -> partitions, residency::get, intervalMs, clock::get, pause, meters);
  }

  private double errors() {
    return meters.counter("lorastream.consumer.residency.errors").count();
  }

  @Test
  void theRecordHasExactlyThePartitionsSortedTheAdaptersAndTheTime() {
    ConsumerResidency r =
        ResidencyPublisher.record(
            "gpu-7",
            List.of(5, 1, 3),
            new AdapterResidency(List.of("acme/a", "acme/b"), List.of("acme/b", "acme/a", "x/c")),
            1_700_000_000_123L);
    assertEquals(
        ConsumerResidency.newBuilder()
            .setConsumerId("gpu-7")
            .setBatchPartitions(List.of(1, 3, 5))
            .setBackendAdapters(List.of("acme/a", "acme/b"))
            .setHostAdapters(List.of("acme/b", "acme/a", "x/c"))
            .setPublishedEpochMs(1_700_000_000_123L)
            .build(),
        r);
    ConsumerResidency none =
        ResidencyPublisher.record("gpu-8", Set.of(), AdapterResidency.EMPTY, 0);
    assertEquals("gpu-8", none.getConsumerId());
    assertEquals(List.of(), none.getBatchPartitions());
    assertEquals(List.of(), none.getBackendAdapters());
    assertEquals(List.of(), none.getHostAdapters());
    assertEquals(0, none.getPublishedEpochMs());
  }

  @Test
  void oneRecordPerIntervalOfWhatIsHeldThenATombstoneAtClose() {
    MockProducer<String, ConsumerResidency> p = producer(true);
    AtomicInteger pauses = new AtomicInteger();
    partitions.addAll(List.of(2, 0));
    ResidencyPublisher pub =
        publisher(
            p,
            1000,
            ms -> {
              assertEquals(1000, ms);
              clock.addAndGet(ms);
              switch (pauses.incrementAndGet()) {
                case 1 -> { // a rebalance and the engine's next snapshot
                  partitions.remove(2);
                  residency.set(new AdapterResidency(List.of("a"), List.of("a", "b")));
                }
                case 2 -> partitions.add(4);
                default -> {
                  return false; // closed meanwhile
                }
              }
              return true;
            });
    pub.run();
    pub.close();

    List<ProducerRecord<String, ConsumerResidency>> sent = p.history();
    assertEquals(4, sent.size(), "three intervals, then the tombstone");
    for (ProducerRecord<String, ConsumerResidency> r : sent) {
      assertEquals(Topics.RESIDENCY.name(), r.topic());
      assertEquals("gpu-7", r.key());
    }
    long t0 = 1_700_000_000_000L;
    assertEquals(
        ResidencyPublisher.record("gpu-7", List.of(0, 2), AdapterResidency.EMPTY, t0),
        sent.get(0).value());
    AdapterResidency held = new AdapterResidency(List.of("a"), List.of("a", "b"));
    assertEquals(
        ResidencyPublisher.record("gpu-7", List.of(0), held, t0 + 1000), sent.get(1).value());
    assertEquals(
        ResidencyPublisher.record("gpu-7", List.of(0, 4), held, t0 + 2000), sent.get(2).value());
    assertNull(sent.get(3).value(), "the tombstone");
    assertTrue(p.closed());
    assertEquals(0.0, errors());
  }

  @Test
  void onItsOwnThreadItPublishesUntilClosedAndTheTombstoneComesLast() throws Exception {
    MockProducer<String, ConsumerResidency> p = producer(true);
    partitions.add(3);
    ResidencyPublisher pub = publisher(p, 5, null);
    Thread t = new Thread(pub, "residency-gpu-7");
    t.setDaemon(true);
    t.start();
    long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (p.history().size() < 3) {
      assertTrue(System.nanoTime() < end, "three records within 10 s");
      Thread.sleep(1);
    }
    pub.close();
    assertFalse(t.isAlive(), "close ends the loop");
    List<ProducerRecord<String, ConsumerResidency>> sent = p.history();
    assertNull(sent.getLast().value());
    assertEquals(1, sent.stream().filter(r -> r.value() == null).count());
    assertEquals(List.of(3), sent.getFirst().value().getBatchPartitions());
    pub.close(); // again: nothing more
    assertEquals(sent.size(), p.history().size());
  }

  @Test
  void aFailedSendIsCountedAndPublishingGoesOn() {
    MockProducer<String, ConsumerResidency> p = producer(false);
    ResidencyPublisher pub = publisher(p, 1000, ms -> true);
    pub.publish();
    assertTrue(p.errorNext(new TimeoutException("no metadata for lora.residency")));
    assertEquals(1.0, errors(), "a send failed later, on the producer's thread");

    p.sendException = new TimeoutException("no metadata for lora.residency");
    pub.publish();
    assertEquals(2.0, errors(), "a send failed at once");

    p.sendException = null;
    pub.publish();
    assertTrue(p.completeNext());
    assertEquals(2.0, errors());
    assertEquals(2, p.history().size(), "the first and the last were handed to the producer");

    pub.close();
    assertNull(p.history().getLast().value(), "a record was written: the tombstone follows");
    assertTrue(p.completeNext());
    assertEquals(2.0, errors());
  }

  @Test
  void noTombstoneWhenNothingWasEverWritten() {
    MockProducer<String, ConsumerResidency> p = producer(true);
    p.sendException = new TimeoutException("no metadata for lora.residency");
    ResidencyPublisher pub = publisher(p, 1000, ms -> true);
    pub.publish();
    pub.publish();
    assertEquals(2.0, errors());
    pub.close();
    assertEquals(List.of(), p.history());
    assertTrue(p.closed());
    assertEquals(2.0, errors(), "close waited for no metadata");
  }
}
