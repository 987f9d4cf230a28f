package dev.lorastream.batcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.schemas.ErrorCode;
import dev.lorastream.schemas.FinishReason;
import dev.lorastream.schemas.InferenceBatch;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.ReplyTopics;
import dev.lorastream.schemas.Tenancy;
import dev.lorastream.schemas.Tenants;
import dev.lorastream.schemas.Topics;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.streams.TestOutputTopic;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Topics mode ({@code batcher.tenancy=topics}): requests are read from every {@code
 * lora.tenant.<t>.requests}, the tenant is the topic's, and a record claiming another tenant or
 * another reply topic is refused with INVALID_PARAMS on the topic tenant's own reply topic.
 */
class TenantTopologyTest {

  static final BatcherConfig TOPICS =
      BatcherConfig.defaults().with(Map.of(BatcherConfig.TENANCY, "topics"));

  static final String ACME_IN = "lora.tenant.acme.requests";
  static final String ACME_OUT = "lora.tenant.acme.replies";
  static final String GLOBEX_IN = "lora.tenant.globex.requests";
  static final String GLOBEX_OUT = "lora.tenant.globex.replies";

  Harness h;
  TestOutputTopic<String, InferenceResult> acmeReplies;
  TestOutputTopic<String, InferenceResult> globexReplies;
  TestOutputTopic<String, InferenceResult> sharedReplies;

  @BeforeEach
  void open() {
    h = new Harness(TOPICS);
    acmeReplies = h.replies(ACME_OUT);
    globexReplies = h.replies(GLOBEX_OUT);
    sharedReplies = h.replies(Topics.REPLIES.name());
    h.adapter("acme-sql", "acme");
    h.adapter("globex-sql", "globex");
  }

  @AfterEach
  void close() {
    h.close();
  }

  private static InferenceRequest of(String tenant, String id, String adapter, String replyTopic) {
    return InferenceRequest.newBuilder(Harness.request(id, adapter))
        .setTenantId(tenant)
        .setReplyTopic(replyTopic)
        .build();
  }

  private List<String> batchedRows() {
    h.advance(TOPICS.maxWaitMs());
    List<String> out = new ArrayList<>();
    for (InferenceBatch b : h.batches.readValuesToList()) {
      b.getRequests().forEach(r -> out.add(r.getTenantId() + "/" + r.getRequestId()));
    }
    return out;
  }

  @Test
  void requestsOfEveryTenantTopicAreBatchedUnderTheirTenant() {
    h.sendTo(ACME_IN, of("acme", "a1", "acme-sql", ACME_OUT));
    h.sendTo(GLOBEX_IN, of("globex", "g1", "globex-sql", GLOBEX_OUT));
    h.sendTo("lora.tenant.acme2.requests", of("acme2", "x1", null, "lora.tenant.acme2.replies"));

    assertEquals(
        List.of("acme/a1", "acme2/x1", "globex/g1"), batchedRows().stream().sorted().toList());
    assertTrue(acmeReplies.isEmpty());
    assertTrue(globexReplies.isEmpty());
  }

  @Test
  void aForgedTenantIdIsRefusedOnTheTopicTenantsReplyTopicNeverTheForgedOne() {
    // acme writes its own topic but claims to be globex, to use globex's adapter and reply topic
    h.sendTo(ACME_IN, of("globex", "f1", "globex-sql", GLOBEX_OUT));

    assertEquals(List.of(), batchedRows());
    assertTrue(globexReplies.isEmpty(), "nothing reaches the forged tenant's topic");
    assertTrue(sharedReplies.isEmpty());
    var rec = acmeReplies.readRecord();
    assertEquals("f1", rec.key());
    InferenceResult r = rec.value();
    assertEquals(FinishReason.ERROR, r.getFinishReason());
    assertEquals(ErrorCode.INVALID_PARAMS, r.getErrorCode());
    assertEquals(
        "tenantId 'globex' does not match topic lora.tenant.acme.requests, which only tenant"
            + " 'acme' can write: send with tenantId 'acme' (a tenant is the one whose request"
            + " topic it writes)",
        r.getErrorMessage());
    assertEquals(
        1, h.counter(BatcherMetrics.REQUESTS, "outcome", "rejected", "code", "INVALID_PARAMS"));
  }

  @Test
  void anotherTenantsReplyTopicIsRefusedOnTheTenantsOwn() {
    h.sendTo(ACME_IN, of("acme", "f2", null, GLOBEX_OUT));

    assertEquals(List.of(), batchedRows());
    assertTrue(globexReplies.isEmpty());
    InferenceResult r = acmeReplies.readValue();
    assertEquals(ErrorCode.INVALID_PARAMS, r.getErrorCode());
    assertEquals(
        "replyTopic 'lora.tenant.globex.replies' is not tenant 'acme''s reply topic: send with"
            + " replyTopic 'lora.tenant.acme.replies' (a tenant reads replies from its own topic"
            + " only)",
        r.getErrorMessage());
  }

  @Test
  void theSharedReplyTopicIsNotATenantsReplyTopicInTopicsMode() {
    h.sendTo(ACME_IN, of("acme", "s1", null, Topics.REPLIES.name()));

    assertEquals(List.of(), batchedRows());
    assertTrue(sharedReplies.isEmpty(), "lora.replies is for operators in topics mode");
    assertEquals(ErrorCode.INVALID_PARAMS, acmeReplies.readValue().getErrorCode());
  }

  @Test
  void whenTheTenantsReplyTopicCannotBeWrittenTheErrorGoesToTheSharedReplies() {
    h.replyTopicStates.put(ACME_OUT, ReplyTopics.State.MISSING);
    h.sendTo(ACME_IN, of("globex", "f3", null, GLOBEX_OUT));

    assertTrue(globexReplies.isEmpty());
    InferenceResult r = sharedReplies.readValue();
    assertEquals(ErrorCode.INVALID_PARAMS, r.getErrorCode());
    assertTrue(
        r.getErrorMessage()
            .endsWith(
                "; this error was written to lora.replies because lora.tenant.acme.replies"
                    + " cannot be written"),
        r.getErrorMessage());
  }

  @Test
  void aForgedRequestDoesNotTakeTheIdOfTheTenantItClaims() {
    // dedup runs after binding: acme's forged "g1" is refused and not remembered, so globex's own
    // g1 is batched, and acme's later honest g1 is its own (acme, g1) pair
    h.sendTo(ACME_IN, of("globex", "g1", null, GLOBEX_OUT));
    h.sendTo(GLOBEX_IN, of("globex", "g1", null, GLOBEX_OUT));
    h.sendTo(ACME_IN, of("acme", "g1", null, ACME_OUT));

    assertEquals(List.of("acme/g1", "globex/g1"), batchedRows().stream().sorted().toList());
    assertEquals(ErrorCode.INVALID_PARAMS, acmeReplies.readValue().getErrorCode());
    assertTrue(acmeReplies.isEmpty());
    assertTrue(globexReplies.isEmpty());
  }

  @Test
  void anotherTenantsAdapterIsStillForbiddenAfterBinding() {
    h.sendTo(ACME_IN, of("acme", "a2", "globex-sql", ACME_OUT));

    assertEquals(List.of(), batchedRows());
    assertEquals(ErrorCode.ADAPTER_FORBIDDEN, acmeReplies.readValue().getErrorCode());
  }

  @Test
  void theSharedRequestTopicIsNotReadInTopicsMode() {
    assertThrows(IllegalArgumentException.class, () -> h.send(Harness.request("r1", null)));
  }

  @Test
  void topicsModeAllowsExactlyTheTenantsOwnReplyTopic() {
    assertEquals(Set.of(Tenants.repliesTopic("acme")), TOPICS.allowedReplyTopics("acme"));
    assertEquals(Set.of(), TOPICS.allowedReplyTopics("acme.x"));
    assertEquals(Tenancy.SHARED, BatcherConfig.defaults().tenancy());
    assertEquals(
        Set.of("lora.replies", "lora.replies.acme"),
        BatcherConfig.defaults().allowedReplyTopics("acme"));
  }
}
