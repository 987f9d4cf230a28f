package dev.lorastream.consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.lorastream.schemas.ErrorCode;
import dev.lorastream.schemas.FinishReason;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.TenantUsage;
import dev.lorastream.schemas.Usage;
import dev.lorastream.schemas.UsageKey;
import java.util.List;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.Test;

class UsageLedgerTest {
  private static final long HOUR = UsageKey.WINDOW_MS;
  private static final long T0 = 1_000 * HOUR + 123; // inside the window starting at 1000 h

  private static InferenceResult result(String tenant, String adapter, int prompt, int completion) {
    return InferenceResult.newBuilder()
        .setRequestId("r")
        .setTenantId(tenant)
        .setAdapterId(adapter)
        .setFinishReason(FinishReason.LENGTH)
        .setUsage(new Usage(prompt, completion))
        .build();
  }

  private static InferenceResult error(String tenant) {
    return InferenceResult.newBuilder()
        .setRequestId("e")
        .setTenantId(tenant)
        .setFinishReason(FinishReason.ERROR)
        .setErrorCode(ErrorCode.UNKNOWN_ADAPTER)
        .setErrorMessage("no such adapter")
        .build();
  }

  @Test
  void aReleaseWritesTheCumulativeCountsOfTheKeysItTouchesAndNothingElse() {
    UsageLedger ledger = new UsageLedger("c1", "lora.usage");
    ledger.commit(
        ledger.stage(List.of(result("acme", "legal", 10, 5), result("acme", null, 3, 2)), T0), T0);
    UsageLedger.Staged s =
        ledger.stage(List.of(result("acme", "legal", 7, 4), error("acme"), error("acme")), T0 + 1);

    List<ProducerRecord<String, TenantUsage>> records = s.records();
    assertEquals(2, records.size()); // acme/legal and acme/base (the errors): not acme/base twice
    TenantUsage legal = records.get(0).value();
    assertEquals(new UsageKey("c1", 1_000 * HOUR, "acme", "legal").encode(), records.get(0).key());
    assertEquals("lora.usage", records.get(0).topic());
    assertEquals(2, legal.getRequests());
    assertEquals(0, legal.getErrors());
    assertEquals(17, legal.getPromptTokens());
    assertEquals(9, legal.getCompletionTokens());
    assertEquals(1_000 * HOUR, legal.getWindowStartEpochMs());
    assertEquals(HOUR, legal.getWindowMs());
    assertEquals(T0 + 1, legal.getUpdatedEpochMs());
    TenantUsage base = records.get(1).value();
    assertEquals(null, base.getAdapterId());
    assertEquals(3, base.getRequests());
    assertEquals(2, base.getErrors());
    assertEquals(3, base.getPromptTokens());
  }

  @Test
  void topicsTenancyWritesEachRecordAlsoToItsTenantsOwnTopicWhenItHasOne() {
    UsageLedger ledger =
        new UsageLedger(
            "c1", "lora.usage", t -> t.equals("acme") ? "lora.tenant.acme.usage" : null);
    List<ProducerRecord<String, TenantUsage>> records =
        ledger
            .stage(List.of(result("acme", "legal", 10, 5), result("globex", null, 3, 2)), T0)
            .records();
    assertEquals(
        List.of("lora.usage", "lora.tenant.acme.usage", "lora.usage"),
        records.stream().map(ProducerRecord::topic).toList());
    assertEquals(records.get(0).key(), records.get(1).key());
    assertEquals(records.get(0).value(), records.get(1).value());
    assertEquals("globex", records.get(2).value().getTenantId());
  }

  @Test
  void anAbortedReleaseLeavesTheLedgerAsItWasSoItsRetryCountsFromTheSameBase() {
    UsageLedger ledger = new UsageLedger("c1", "lora.usage");
    List<InferenceResult> batch = List.of(result("acme", "legal", 10, 5));
    UsageLedger.Staged aborted = ledger.stage(batch, T0);
    UsageLedger.Staged retried = ledger.stage(batch, T0 + 5);
    assertEquals(
        aborted.records().getFirst().value().getRequests(),
        retried.records().getFirst().value().getRequests());
    ledger.commit(retried, T0 + 5);
    assertEquals(
        new UsageLedger.Counts(1, 0, 10, 5),
        ledger.get(new UsageKey("c1", 1_000 * HOUR, "acme", "legal")));
  }

  @Test
  void aRestartGoesOnFromItsOwnCommittedRecordsOfTheCurrentWindows() {
    UsageLedger before = new UsageLedger("c1", "lora.usage");
    UsageLedger.Staged s = before.stage(List.of(result("acme", "legal", 10, 5)), T0);
    UsageLedger other = new UsageLedger("c2", "lora.usage");
    UsageLedger.Staged o = other.stage(List.of(result("acme", "legal", 99, 99)), T0);
    UsageLedger old = new UsageLedger("c1", "lora.usage");
    UsageLedger.Staged stale = old.stage(List.of(result("acme", "legal", 1, 1)), T0 - 5 * HOUR);

    UsageLedger after = new UsageLedger("c1", "lora.usage");
    after.restore(
        List.of(
            s.records().getFirst().value(),
            o.records().getFirst().value(),
            stale.records().getFirst().value()),
        T0 + 10);
    assertEquals(1, after.size()); // not c2's, not a window that cannot change any more
    TenantUsage next =
        after.stage(List.of(result("acme", "legal", 1, 1)), T0 + 20).records().getFirst().value();
    assertEquals(2, next.getRequests());
    assertEquals(11, next.getPromptTokens());
  }

  @Test
  void aNewHourStartsNewCountsAndForgetsWindowsThatCannotChange() {
    UsageLedger ledger = new UsageLedger("c1", "lora.usage");
    ledger.commit(ledger.stage(List.of(result("acme", "legal", 10, 5)), T0), T0);
    UsageLedger.Staged next = ledger.stage(List.of(result("acme", "legal", 1, 1)), T0 + HOUR);
    TenantUsage u = next.records().getFirst().value();
    assertEquals(1_001 * HOUR, u.getWindowStartEpochMs());
    assertEquals(1, u.getRequests());
    ledger.commit(next, T0 + HOUR);
    assertEquals(2, ledger.size()); // the previous hour is still kept
    ledger.commit(ledger.stage(List.of(), T0 + 2 * HOUR), T0 + 2 * HOUR);
    assertEquals(1, ledger.size());
  }
}
