package dev.lorastream.consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.lorastream.schemas.CancelRequest;
import dev.lorastream.schemas.Tenancy;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.ArrayList;
import java.util.List;
import org.apache.kafka.clients.consumer.MockConsumer;
import org.junit.jupiter.api.Test;

/** What {@link CancelReader} does with each cancel record (the broker path: CancelBrokerTest). */
class CancelReaderTest {
  private final List<String> cancelled = new ArrayList<>();

  private CancelReader reader(Tenancy tenancy) {
    return new CancelReader(
        new MockConsumer<>("latest"), tenancy, cancelled::add, new SimpleMeterRegistry());
  }

  private static CancelRequest cancel(String tenant, String id) {
    return CancelRequest.newBuilder().setTenantId(tenant).setRequestId(id).build();
  }

  @Test
  void onlyTheTenantsOwnRequestBeingComputedIsCancelled() {
    CancelReader r = reader(Tenancy.SHARED);
    r.track("acme", "r1");
    assertEquals("other_tenant", r.apply("lora.cancel", cancel("evil", "r1")));
    assertEquals("unknown", r.apply("lora.cancel", cancel("acme", "r2")));
    assertEquals(List.of(), cancelled);
    assertEquals("applied", r.apply("lora.cancel", cancel("acme", "r1")));
    assertEquals(List.of(RequestIntake.engineId("acme", "r1")), cancelled);
    r.untrack("acme", "r1");
    assertEquals("unknown", r.apply("lora.cancel", cancel("acme", "r1")), "finished: ignored");
    assertEquals(1, cancelled.size());
    assertEquals(1.0, r.count("applied"));
    assertEquals(1.0, r.count("other_tenant"));
    assertEquals(2.0, r.count("unknown"));
  }

  @Test
  void inTopicsTenancyTheTenantIsTheTopicsAndAnotherClaimIsRefused() {
    CancelReader r = reader(Tenancy.TOPICS);
    r.track("acme", "r1");
    r.track("evil", "r1");
    assertEquals("forged", r.apply("lora.tenant.evil.cancel", cancel("acme", "r1")));
    assertEquals("forged", r.apply("lora.cancel", cancel("acme", "r1")));
    assertEquals(List.of(), cancelled);
    assertEquals("applied", r.apply("lora.tenant.acme.cancel", cancel("acme", "r1")));
    assertEquals(List.of(RequestIntake.engineId("acme", "r1")), cancelled);
    assertEquals(2.0, r.count("forged"));
  }

  @Test
  void engineIdsOfDifferentTenantsAndIdsNeverCollide() {
    assertEquals(
        false, RequestIntake.engineId("a/b", "c").equals(RequestIntake.engineId("a", "b/c")));
  }
}
