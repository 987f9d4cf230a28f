package dev.lorastream.engine.sched;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import org.junit.jupiter.api.Test;

class FairSharesTest {
  @Test
  void weightsAreParsedFromTenantEqualsWeightEntries() {
    assertEquals(Map.of("acme", 4.0, "beta", 0.5), FairShares.parseWeights(" acme=4, beta = 0.5 "));
    assertEquals(Map.of(), FairShares.parseWeights(""));
  }

  @Test
  void aBadWeightEntryIsRefusedNamingTheKeyAndTheEntry() {
    for (String bad :
        new String[] {"acme", "acme=", "=2", "acme=0", "acme=-1", "acme=x", "a=1,,"}) {
      var e = assertThrows(IllegalArgumentException.class, () -> FairShares.parseWeights(bad));
      assertTrue(e.getMessage().startsWith(FairShares.WEIGHTS_PROPERTY + ": bad entry '"), bad);
    }
    var e =
        assertThrows(
            IllegalArgumentException.class, () -> FairShares.parseWeights("acme=1,acme=2"));
    assertEquals(
        "lorastream.fair.tenant-weights: tenant 'acme' is given twice; give each tenant once",
        e.getMessage());
  }

  @Test
  void aWeightDividesTheServiceChargedToTheCounter() {
    FairShares f = new FairShares(Map.of("acme", 4.0), new TenantServed());
    FairShares.Tenant acme = f.arrive("acme");
    FairShares.Tenant other = f.arrive("other-tenant");
    f.charge(acme, 10, 3); // (10 + 3 * 2) / 4
    f.charge(other, 10, 3);
    assertEquals(4, f.counter("acme"));
    assertEquals(16, f.counter("other-tenant"));
  }

  @Test
  void idleTenantsAreForgottenSoThousandsOfTenantsStayBounded() {
    FairShares f = new FairShares(Map.of(), new TenantServed());
    FairShares.Tenant keep = f.arrive("busy");
    for (int i = 0; i < 20_000; i++) {
      FairShares.Tenant t = f.arrive("t" + i);
      f.charge(t, 1, i % 7);
      f.leave(t);
      assertTrue(f.knownTenants() <= FairShares.MAX_TENANTS + 1, "at " + i);
    }
    assertEquals(1, f.activeTenants());
    assertEquals(0, f.counter("busy"), "an active tenant is never forgotten");
    f.leave(keep);
  }

  @Test
  void servedTokensKeepTheFirstTenantsByNameAndCountTheRestAsOther() {
    TenantServed served = new TenantServed(2);
    served.record("a", 5, 1);
    served.record(null, 1, 1);
    served.record("b", 7, 2);
    served.record("c", 3, 3);
    served.record("a", 1, 1);
    assertEquals(
        Map.of(
            "a",
            new TenantServed.Tokens(6, 2),
            TenantServed.NONE,
            new TenantServed.Tokens(1, 1),
            TenantServed.OTHER,
            new TenantServed.Tokens(10, 5)),
        served.snapshot());
    assertEquals("a", served.keyOf("a"));
    assertEquals(TenantServed.OTHER, served.keyOf("c"));
    assertEquals(TenantServed.OTHER, served.keyOf("never-served"));
    assertEquals(TenantServed.NONE, served.keyOf(null));
  }
}
