package dev.lorastream.consumer;

import static dev.lorastream.consumer.AnsweredRowsCodecTest.rows;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;

/**
 * {@link PartitionProgress} as a state machine: requests finish, releases commit or fail, and each
 * step's offset, metadata and released rows are asserted.
 */
class PartitionProgressTest {
  static final TopicPartition TP = new TopicPartition("lora.batches", 0);

  /** A batch in flight: its futures, incomplete until {@link #finish}. */
  record Running(InFlightBatch batch) {
    void finish(int... rows) {
      for (int r : rows) {
        batch.results().get(r).complete(ReplyRouterTest.ok(batch.batchId() + "-" + r));
      }
    }
  }

  static Running start(PartitionProgress p, long offset, int rows) {
    BitSet answered = p.admit(offset, rows);
    List<InferenceRequest> reqs = new ArrayList<>();
    List<CompletableFuture<InferenceResult>> results = new ArrayList<>();
    for (int r = 0; r < rows; r++) {
      reqs.add(ReplyRouterTest.request("b" + offset + "-" + r, "lora.replies"));
      results.add(answered.get(r) ? null : new CompletableFuture<>());
    }
    InFlightBatch b = new InFlightBatch(TP, offset, "b" + offset, reqs, results);
    p.attach(b);
    return new Running(b);
  }

  static List<String> ids(List<PartitionProgress.Row> rows) {
    return rows.stream().map(r -> r.result().getRequestId()).toList();
  }

  @Test
  void aFinishedRequestIsReleasedWhileItsBatchMatesAndEarlierBatchesRun() {
    PartitionProgress p = PartitionProgress.restore(new OffsetAndMetadata(10), 4096);
    Running b10 = start(p, 10, 4);
    Running b12 = start(p, 12, 2); // 11: a transaction marker
    b12.finish(1);
    b10.finish(2);
    assertEquals(List.of("b10-2", "b12-1"), ids(p.take()));
    OffsetAndMetadata om = p.offsetToCommit();
    assertEquals(10, om.offset(), "the offset stays at the first batch not fully answered");
    List<AnsweredBatch> answered = AnsweredRowsCodec.decode(10, om.metadata());
    assertEquals(List.of(10L, 12L), answered.stream().map(AnsweredBatch::offset).toList());
    assertEquals(rows(2), answered.get(0).answered());
    assertEquals(rows(1), answered.get(1).answered());
    p.released();
    assertEquals(List.of(), p.take(), "released once");
    assertNull(p.offsetToCommit(), "nothing changed since");
  }

  @Test
  void theOffsetPassesEveryFullyAnsweredBatchUpToTheFirstNotFullyAnswered() {
    PartitionProgress p = PartitionProgress.restore(new OffsetAndMetadata(10), 4096);
    Running b10 = start(p, 10, 2);
    Running b12 = start(p, 12, 1);
    Running b13 = start(p, 13, 2);
    b12.finish(0);
    b13.finish(0);
    p.take();
    p.released();
    b10.finish(0, 1);
    assertEquals(List.of("b10-0", "b10-1"), ids(p.take()));
    OffsetAndMetadata om = p.offsetToCommit();
    assertEquals(13, om.offset());
    List<AnsweredBatch> answered = AnsweredRowsCodec.decode(13, om.metadata());
    assertEquals(1, answered.size());
    assertEquals(13, answered.getFirst().offset());
    assertEquals(rows(0), answered.getFirst().answered());
    p.released();
    assertEquals(13, p.committed());
    b13.finish(1);
    p.take();
    om = p.offsetToCommit();
    assertEquals(new OffsetAndMetadata(14, ""), om, "all answered: past the last batch taken");
  }

  @Test
  void aNewOwnerSkipsTheAnsweredRowsAndNeverPassesAnOffsetItHasNotTaken() {
    String metadata =
        AnsweredRowsCodec.encode(
            10,
            List.of(new AnsweredBatch(10, 3, rows(0, 2)), new AnsweredBatch(12, 2, rows(0, 1))));
    PartitionProgress p = PartitionProgress.restore(new OffsetAndMetadata(10, metadata), 4096);
    Running b10 = start(p, 10, 3);
    assertNull(b10.batch().results().get(0), "answered before: not computed again");
    assertNull(b10.batch().results().get(2));
    b10.finish(1);
    assertEquals(List.of("b10-1"), ids(p.take()));
    OffsetAndMetadata om = p.offsetToCommit();
    // 11 was not taken yet: it may be a batch nobody answered, so the offset stops there
    assertEquals(11, om.offset());
    List<AnsweredBatch> kept = AnsweredRowsCodec.decode(11, om.metadata());
    assertEquals(12, kept.getFirst().offset());
    assertEquals(rows(0, 1), kept.getFirst().answered());
    p.released();
    start(p, 12, 2); // redelivered, nothing to compute
    assertEquals(0, p.generating());
    assertEquals(List.of(), p.take());
    assertEquals(new OffsetAndMetadata(13, ""), p.offsetToCommit());
  }

  @Test
  void aFailedReleaseOffersTheSameRowsAgain() {
    PartitionProgress p = PartitionProgress.restore(new OffsetAndMetadata(0), 4096);
    Running b0 = start(p, 0, 2);
    b0.finish(1);
    assertEquals(List.of("b0-1"), ids(p.take()));
    p.releaseFailed();
    assertEquals(List.of("b0-1"), ids(p.take()));
    assertEquals(0, p.offsetToCommit().offset());
  }

  @Test
  void onlyBatchesWithARequestStillComputingCountAsGenerating() {
    PartitionProgress p = PartitionProgress.restore(new OffsetAndMetadata(0), 4096);
    Running b0 = start(p, 0, 2);
    Running b1 = start(p, 1, 2);
    assertEquals(2, p.generating());
    b1.finish(0, 1); // done, waiting behind b0 for the offset: not generating
    assertEquals(1, p.generating());
    assertEquals(2, p.held());
    b0.finish(0);
    assertEquals(1, p.generating());
  }

  @Test
  void aBatchIsRefusedWhenThePartitionsMetadataCouldOutgrowTheLimitButNeverWhenAlone() {
    // "v1:" + base64 of 1 + n x 6 bytes for batches of 32 rows: 4 need 37 characters, 5 need 45;
    // 4 of 32 rows and one of 4 rows (3 bytes) need 41
    PartitionProgress p = PartitionProgress.restore(new OffsetAndMetadata(0), 41);
    assertTrue(p.fits(0, 1_000), "nothing held: always taken, so a partition never stalls");
    for (long o = 0; o < 4; o++) {
      assertTrue(p.fits(o, 32));
      start(p, o, 32);
    }
    assertFalse(p.fits(4, 32));
    assertTrue(p.fits(4, 4), "a smaller batch still fits");
  }

  @Test
  void metadataThatDisagreesWithTheBatchIsRefused() {
    String metadata = AnsweredRowsCodec.encode(5, List.of(new AnsweredBatch(5, 3, rows(1))));
    PartitionProgress p = PartitionProgress.restore(new OffsetAndMetadata(5, metadata), 4096);
    var e = assertThrows(IllegalStateException.class, () -> p.admit(5, 4));
    assertEquals(
        "the committed offset metadata says batch 5 has 3 rows, but it has 4", e.getMessage());
  }

  @Test
  void withNoCommittedOffsetTheFirstBatchTakenSetsIt() {
    PartitionProgress p = PartitionProgress.restore(null, 4096);
    Running b7 = start(p, 7, 1);
    assertNull(p.offsetToCommit());
    b7.finish(0);
    p.take();
    assertEquals(new OffsetAndMetadata(8, ""), p.offsetToCommit());
  }
}
