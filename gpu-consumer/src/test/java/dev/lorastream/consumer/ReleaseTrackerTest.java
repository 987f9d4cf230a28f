package dev.lorastream.consumer;

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
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;

/** {@link ReleaseTracker}: one release over all partitions, retried whole, refusals remembered. */
class ReleaseTrackerTest {
  static final TopicPartition P0 = new TopicPartition("lora.batches", 0);
  static final TopicPartition P1 = new TopicPartition("lora.batches", 1);

  static InFlightBatch start(ReleaseTracker t, TopicPartition tp, long offset, int rows) {
    BitSet answered = t.admit(tp, offset, rows);
    List<InferenceRequest> reqs = new ArrayList<>();
    List<CompletableFuture<InferenceResult>> results = new ArrayList<>();
    for (int r = 0; r < rows; r++) {
      String id = "p" + tp.partition() + "-" + offset + "-" + r;
      reqs.add(ReplyRouterTest.request(id, "lora.replies"));
      results.add(answered.get(r) ? null : new CompletableFuture<>());
    }
    InFlightBatch b = new InFlightBatch(tp, offset, "b", reqs, results);
    t.attach(b);
    return b;
  }

  static void finish(InFlightBatch b, int row) {
    b.results().get(row).complete(ReplyRouterTest.ok(b.requests().get(row).getRequestId()));
  }

  @Test
  void oneReleaseCarriesTheFinishedRequestsAndOffsetsOfEveryPartition() {
    ReleaseTracker t = new ReleaseTracker(4096);
    t.assigned(P0, new OffsetAndMetadata(0));
    t.assigned(P1, new OffsetAndMetadata(5));
    InFlightBatch a = start(t, P0, 0, 2);
    InFlightBatch b = start(t, P1, 5, 1);
    assertNull(t.next(), "nothing finished");
    assertEquals(2, t.generating());
    finish(a, 1);
    finish(b, 0);
    ReleaseTracker.Release r = t.next();
    assertEquals(
        List.of("p0-0-1", "p1-5-0"),
        r.rows().stream().map(x -> x.result().getRequestId()).sorted().toList());
    assertEquals(0, r.offsets().get(P0).offset());
    assertEquals(
        AnsweredRowsCodec.encode(
            0, List.of(new AnsweredBatch(0, 2, AnsweredRowsCodecTest.rows(1)))),
        r.offsets().get(P0).metadata());
    assertEquals(new OffsetAndMetadata(6, ""), r.offsets().get(P1));
    t.failed(r);
    ReleaseTracker.Release again = t.next();
    assertEquals(2, again.rows().size(), "a failed release is offered again whole");
    assertEquals(r.offsets(), again.offsets());
    t.committed(again);
    assertNull(t.next());
  }

  @Test
  void aNewOwnerSkipsRowsTheMetadataNamesAnswered() {
    ReleaseTracker t = new ReleaseTracker(4096);
    String m =
        AnsweredRowsCodec.encode(
            3, List.of(new AnsweredBatch(3, 2, AnsweredRowsCodecTest.rows(0))));
    t.assigned(P0, new OffsetAndMetadata(3, m));
    InFlightBatch b = start(t, P0, 3, 2);
    assertNull(b.results().get(0));
    finish(b, 1);
    assertEquals(
        Map.of(P0, new OffsetAndMetadata(4, "")), t.next().offsets(), "both rows now answered");
  }

  @Test
  void aRefusedBatchStaysRefusedUntilItFitsAndRevocationForgetsIt() {
    ReleaseTracker t = new ReleaseTracker(41);
    t.assigned(P0, new OffsetAndMetadata(0));
    List<InFlightBatch> held = new ArrayList<>();
    for (long o = 0; o < 4; o++) {
      held.add(start(t, P0, o, 32));
    }
    assertFalse(t.fits(P0, 4, 32));
    t.refuse(P0, 4, 32);
    assertTrue(t.stillRefused(P0));
    for (int r = 0; r < 32; r++) {
      finish(held.getFirst(), r);
    }
    t.committed(t.next()); // batch 0 fully answered: the offset moves to 1
    assertFalse(t.stillRefused(P0), "room again");
    t.refuse(P0, 4, 32);
    t.removed(List.of(P0));
    assertFalse(t.stillRefused(P0));
    assertThrows(IllegalStateException.class, () -> t.admit(P0, 4, 32), "no longer assigned");
  }
}
