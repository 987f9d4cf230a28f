package dev.lorastream.schemas;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.api.Test;

class UsageTopicTest {
  private static final long HOUR = UsageKey.WINDOW_MS;

  private static TenantUsage usage(
      String consumer, long window, String tenant, String adapter, long requests, long tokens) {
    return TenantUsage.newBuilder()
        .setConsumerId(consumer)
        .setWindowStartEpochMs(window)
        .setWindowMs(HOUR)
        .setTenantId(tenant)
        .setAdapterId(adapter)
        .setRequests(requests)
        .setErrors(1)
        .setPromptTokens(tokens)
        .setCompletionTokens(2 * tokens)
        .setUpdatedEpochMs(window)
        .build();
  }

  @Test
  void aTenantsTotalsSumConsumersAndWindowsSinceTheHourOfSincePerAdapterBaseFirst() {
    List<TenantUsage> all =
        List.of(
            usage("c1", 10 * HOUR, "acme", "legal", 3, 30),
            usage("c2", 10 * HOUR, "acme", "legal", 2, 20),
            usage("c1", 11 * HOUR, "acme", "legal", 1, 10),
            usage("c1", 11 * HOUR, "acme", null, 4, 40),
            usage("c1", 9 * HOUR, "acme", "legal", 100, 100), // before since's hour
            usage("c1", 11 * HOUR, "globex", "legal", 7, 70)); // another tenant
    List<UsageTopic.Total> totals = UsageTopic.totals(all, "acme", 10 * HOUR + 59 * 60_000);
    assertEquals(
        List.of(
            new UsageTopic.Total(null, 4, 1, 40, 80), new UsageTopic.Total("legal", 6, 3, 60, 120)),
        totals);
  }

  @Test
  void aTenantWithNoUsageHasNoTotals() {
    assertEquals(
        List.of(),
        UsageTopic.totals(List.of(usage("c1", 10 * HOUR, "acme", "a", 1, 1)), "globex", 0));
  }
}
