package dev.lorastream.batcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.lorastream.schemas.ConsumerResidency;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class ResidencyIndexTest {

  final AtomicLong now = new AtomicLong(100_000);
  final ResidencyIndex index = new ResidencyIndex(5_000, now::get);

  private static ConsumerResidency record(
      List<Integer> partitions, List<String> backend, List<String> host, long publishedMs) {
    return ConsumerResidency.newBuilder()
        .setConsumerId("ignored: the key names the consumer")
        .setBatchPartitions(partitions)
        .setBackendAdapters(backend)
        .setHostAdapters(host)
        .setPublishedEpochMs(publishedMs)
        .build();
  }

  @Test
  void nearestHolderAtOrAfterHomeWrapping() {
    index.update("a", record(List.of(1), List.of("x"), List.of(), 99_000));
    index.update("b", record(List.of(6), List.of("x"), List.of(), 99_000));
    assertEquals(6, index.nearest("x", 5, 8));
    assertEquals(1, index.nearest("x", 7, 8), "wraps past the last partition");
    assertEquals(1, index.nearest("x", 1, 8), "home itself is nearest");
    assertEquals(-1, index.nearest("y", 1, 8), "nobody holds y");
  }

  @Test
  void aBackendHolderBeatsANearerHostHolder() {
    index.update("near", record(List.of(3), List.of(), List.of("x"), 99_000));
    index.update("far", record(List.of(7), List.of("x"), List.of(), 99_000));
    assertEquals(7, index.nearest("x", 3, 8));
    index.update("far", null);
    assertEquals(3, index.nearest("x", 3, 8), "a host holder when no backend holder is left");
  }

  @Test
  void aTombstoneForgetsTheConsumer() {
    index.update("a", record(List.of(2), List.of("x"), List.of(), 99_000));
    index.update("a", null);
    assertEquals(0, index.size());
    assertEquals(-1, index.nearest("x", 0, 8));
  }

  @Test
  void aNewRecordReplacesTheOldOneWhole() {
    index.update("a", record(List.of(2), List.of("x"), List.of(), 99_000));
    index.update("a", record(List.of(4), List.of("y"), List.of(), 99_500));
    assertEquals(-1, index.nearest("x", 0, 8));
    assertEquals(4, index.nearest("y", 0, 8));
  }

  @Test
  void recordsOlderThanTheMaxAgeAreIgnored() {
    index.update("a", record(List.of(2), List.of("x"), List.of(), 95_000));
    assertEquals(2, index.nearest("x", 0, 8), "exactly max age old: still used");
    now.set(95_000 + 5_001);
    assertEquals(-1, index.nearest("x", 0, 8));
  }

  @Test
  void partitionsBeyondTheTopicAreSkipped() {
    index.update("a", record(List.of(9, 3), List.of("x"), List.of(), 99_000));
    assertEquals(3, index.nearest("x", 0, 8));
  }

  @Test
  void aZeroMaxAgeTurnsRoutingOff() {
    ResidencyIndex off = new ResidencyIndex(0, now::get);
    off.update("a", record(List.of(2), List.of("x"), List.of(), 100_000));
    assertEquals(-1, off.nearest("x", 0, 8));
    assertThrows(IllegalArgumentException.class, () -> new ResidencyIndex(-1, now::get));
  }
}
