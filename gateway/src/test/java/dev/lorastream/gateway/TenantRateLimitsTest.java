package dev.lorastream.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class TenantRateLimitsTest {
  private final AtomicLong nanos = new AtomicLong();

  private static final long SECOND = 1_000_000_000L;

  @Test
  void aTenantOverItsRequestsPerMinuteIsRefusedUntilTheBucketRefillsOthersAreNot() {
    TenantRateLimits l = new TenantRateLimits(2, 0, nanos::get);
    assertTrue(l.acquire("acme", 100).isEmpty());
    assertTrue(l.acquire("acme", 100).isEmpty());
    TenantRateLimits.Refusal r = l.acquire("acme", 100).orElseThrow();
    assertEquals("requests per minute (2)", r.limit());
    assertEquals(30_000, r.retryAfterMs()); // one request refills in 60 s / 2
    assertTrue(l.acquire("globex", 100).isEmpty(), "each tenant has its own budget");
    nanos.addAndGet(30 * SECOND);
    assertTrue(l.acquire("acme", 100).isEmpty());
    assertTrue(l.acquire("acme", 100).isPresent());
  }

  @Test
  void tokensCountPromptPlusMaxTokensAndACostOverTheBudgetWaitsForAFullBucket() {
    TenantRateLimits l = new TenantRateLimits(0, 600, nanos::get);
    assertTrue(l.acquire("acme", 500).isEmpty());
    TenantRateLimits.Refusal r = l.acquire("acme", 200).orElseThrow();
    assertEquals("tokens per minute (600)", r.limit());
    assertEquals(10_000, r.retryAfterMs()); // 100 tokens short at 10 tokens/s
    nanos.addAndGet(60 * SECOND);
    assertTrue(l.acquire("acme", 5_000).isEmpty(), "over the whole budget: runs when it is full");
    assertTrue(l.acquire("acme", 1).isPresent());
  }

  @Test
  void noLimitsRefuseNothing() {
    TenantRateLimits l = new TenantRateLimits(0, 0, nanos::get);
    for (int i = 0; i < 1000; i++) {
      assertTrue(l.acquire("acme", 1_000_000).isEmpty());
    }
  }
}
