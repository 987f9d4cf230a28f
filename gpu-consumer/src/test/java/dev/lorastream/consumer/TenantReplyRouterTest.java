package dev.lorastream.consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.schemas.ErrorCode;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.ReplyTopics;
import dev.lorastream.schemas.ReplyTopics.State;
import dev.lorastream.schemas.Tenancy;
import java.util.ArrayList;
import java.util.List;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.Test;

/**
 * {@link ReplyRouter} in topics mode: a result is written only to its tenant's own reply topic,
 * whatever topic its request names.
 */
class TenantReplyRouterTest {
  static final String ACME = "lora.tenant.acme.replies";
  static final String GLOBEX = "lora.tenant.globex.replies";

  final List<String> asked = new ArrayList<>();
  final List<State> rerouted = new ArrayList<>();
  final ReplyTopics everyTopicExists =
      topic -> {
        asked.add(topic);
        return State.EXISTS;
      };

  private ReplyRouter router(Tenancy tenancy) {
    return new ReplyRouter(everyTopicExists, "c1", rerouted::add, tenancy);
  }

  @Test
  void aResultGoesToItsTenantsOwnReplyTopic() {
    InferenceResult ok = ReplyRouterTest.ok("r1");
    var rec = router(Tenancy.TOPICS).record(ReplyRouterTest.request("r1", ACME), ok, "b1");
    assertEquals(ACME, rec.topic());
    assertSame(ok, rec.value());
    assertEquals(List.of(ACME), asked);
    assertEquals(List.of(), rerouted);
  }

  @Test
  void anotherTenantsReplyTopicGetsAnErrorOnLoraRepliesWithoutTheText() {
    InferenceRequest forged = ReplyRouterTest.request("r1", GLOBEX); // tenant acme
    ProducerRecord<String, InferenceResult> rec =
        router(Tenancy.TOPICS).record(forged, ReplyRouterTest.ok("r1"), "b1");
    assertEquals("lora.replies", rec.topic());
    assertEquals("r1", rec.key());
    InferenceResult e = rec.value();
    assertEquals(ErrorCode.INVALID_PARAMS, e.getErrorCode());
    assertEquals(
        "replyTopic 'lora.tenant.globex.replies' is not the reply topic of tenant 'acme'"
            + " (lora.tenant.<tenant>.replies; lorastream.tenancy=topics), so the result was not"
            + " delivered: the batcher should have refused this request (is it running with"
            + " batcher.tenancy=topics?); this error was written to lora.replies instead",
        e.getErrorMessage());
    assertTrue(e.getText() == null || e.getText().isEmpty(), "no completion text");
    assertEquals(List.of(), asked, "the forged topic is not even looked up");
    assertEquals(List.of(State.NOT_AUTHORIZED), rerouted);
  }

  @Test
  void theSharedReplyTopicIsNoTenantsOwnInTopicsMode() {
    var rec =
        router(Tenancy.TOPICS)
            .record(ReplyRouterTest.request("r1", "lora.replies"), ReplyRouterTest.ok("r1"), "b1");
    assertEquals(ErrorCode.INVALID_PARAMS, rec.value().getErrorCode());
  }

  @Test
  void sharedModeWritesWhereTheRequestSays() {
    InferenceResult ok = ReplyRouterTest.ok("r1");
    var rec = router(Tenancy.SHARED).record(ReplyRouterTest.request("r1", GLOBEX), ok, "b1");
    assertEquals(GLOBEX, rec.topic());
    assertSame(ok, rec.value());
  }
}
