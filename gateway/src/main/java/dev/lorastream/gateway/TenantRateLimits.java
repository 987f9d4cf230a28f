package dev.lorastream.gateway;

import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.LongSupplier;

/**
 * Per-tenant rate limits of the gateway: requests per minute and tokens per minute, each a token
 * bucket that holds one minute's worth and refills continuously. A request costs one request and
 * its prompt tokens plus its {@code max_tokens} (what it may use, as OpenAI's limits count it; a
 * request shorter than that is not refunded); a cost above a whole minute's budget is taken as the
 * whole budget, so that it runs once the bucket is full rather than never. 0 means no limit.
 * Thread-safe.
 */
final class TenantRateLimits {
  /** A refusal: which limit, and how long until the request would fit. */
  record Refusal(String limit, long retryAfterMs) {}

  private final long requestsPerMinute;
  private final long tokensPerMinute;
  private final LongSupplier nanos;
  private final Map<String, Buckets> byTenant = new ConcurrentHashMap<>();

  TenantRateLimits(long requestsPerMinute, long tokensPerMinute) {
    this(requestsPerMinute, tokensPerMinute, System::nanoTime);
  }

  TenantRateLimits(long requestsPerMinute, long tokensPerMinute, LongSupplier nanos) {
    this.requestsPerMinute = requestsPerMinute;
    this.tokensPerMinute = tokensPerMinute;
    this.nanos = nanos;
  }

  /** Whether any limit is set. */
  boolean limited() {
    return requestsPerMinute > 0 || tokensPerMinute > 0;
  }

  /**
   * Takes one request and {@code tokens} from {@code tenant}'s budgets, or nothing and a refusal
   * when either is short.
   */
  Optional<Refusal> acquire(String tenant, long tokens) {
    if (!limited()) {
      return Optional.empty();
    }
    Buckets b = byTenant.computeIfAbsent(tenant, t -> new Buckets(nanos.getAsLong()));
    synchronized (b) {
      long now = nanos.getAsLong();
      b.refill(now);
      OptionalLong waitRequests = wait(b.requests, 1, requestsPerMinute);
      OptionalLong waitTokens = wait(b.tokens, tokens, tokensPerMinute);
      if (waitRequests.isPresent() || waitTokens.isPresent()) {
        long r = waitRequests.orElse(0);
        long t = waitTokens.orElse(0);
        return Optional.of(
            r >= t
                ? new Refusal("requests per minute (" + requestsPerMinute + ")", r)
                : new Refusal("tokens per minute (" + tokensPerMinute + ")", t));
      }
      if (requestsPerMinute > 0) {
        b.requests -= 1;
      }
      if (tokensPerMinute > 0) {
        b.tokens -= Math.min(tokens, tokensPerMinute);
      }
      return Optional.empty();
    }
  }

  /** Milliseconds until {@code have} holds {@code cost} (capped at the budget); empty: now. */
  private static OptionalLong wait(double have, long cost, long perMinute) {
    if (perMinute <= 0) {
      return OptionalLong.empty();
    }
    double need = Math.min(cost, perMinute) - have;
    if (need <= 0) {
      return OptionalLong.empty();
    }
    return OptionalLong.of((long) Math.ceil(need * 60_000.0 / perMinute));
  }

  private final class Buckets {
    double requests = requestsPerMinute;
    double tokens = tokensPerMinute;
    long lastNanos;

    Buckets(long now) {
      this.lastNanos = now;
    }

    void refill(long now) {
      double minutes = (now - lastNanos) / 60e9;
      lastNanos = now;
      requests = Math.min(requestsPerMinute, requests + minutes * requestsPerMinute);
      tokens = Math.min(tokensPerMinute, tokens + minutes * tokensPerMinute);
    }
  }
}
