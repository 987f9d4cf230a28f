package dev.lorastream.gateway;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.schemas.InferenceResult;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

class AsyncRequestsTest {
  private static final Gateway.Shape SHAPE = new Gateway.Shape(false, "cmpl-1", 0, "base");

  @Test
  void aRequestIsFoundOnlyUnderItsTenant() {
    try (AsyncRequests a = new AsyncRequests(Duration.ofMinutes(1), 10)) {
      assertTrue(a.add("cmpl-1", "acme", SHAPE, new CompletableFuture<>()));
      assertTrue(a.get("cmpl-1", "acme").isPresent());
      assertFalse(a.get("cmpl-1", "globex").isPresent());
      assertFalse(a.get("cmpl-2", "acme").isPresent());
    }
  }

  @Test
  void aFinishedRequestIsForgottenAfterTheRetentionAndARunningOneIsNot() throws Exception {
    try (AsyncRequests a = new AsyncRequests(Duration.ofMillis(50), 10)) {
      CompletableFuture<InferenceResult> done = new CompletableFuture<>();
      a.add("done", "acme", SHAPE, done);
      a.add("running", "acme", SHAPE, new CompletableFuture<>());
      done.complete(InferenceResult.newBuilder().setRequestId("1").setTenantId("acme").build());
      assertTrue(a.get("done", "acme").isPresent(), "kept at first");
      Thread.sleep(200);
      assertFalse(a.get("done", "acme").isPresent(), "gone after the retention");
      assertTrue(a.get("running", "acme").isPresent(), "a running request is kept");
    }
  }

  @Test
  void noMoreThanMaxKeptAreKept() {
    try (AsyncRequests a = new AsyncRequests(Duration.ofMinutes(1), 2)) {
      assertTrue(a.add("a", "acme", SHAPE, new CompletableFuture<>()));
      assertTrue(a.add("b", "acme", SHAPE, new CompletableFuture<>()));
      assertFalse(a.add("c", "acme", SHAPE, new CompletableFuture<>()));
      assertFalse(a.get("c", "acme").isPresent());
    }
  }
}
