package dev.lorastream.schemas;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class UsageKeyTest {
  @Test
  void idsWithTheSeparatorOrSlashesStayApartAndRoundTrip() {
    UsageKey a = new UsageKey("c|1", 7_200_000L, "acme", "acme/support-v2");
    UsageKey b = new UsageKey("c", 7_200_000L, "1|acme", "acme/support-v2");
    assertEquals("c%7C1|7200000|acme|acme%2Fsupport-v2", a.encode());
    assertEquals(a, UsageKey.parse(a.encode()));
    assertEquals(b, UsageKey.parse(b.encode()));
    UsageKey base = new UsageKey("c", 0, "acme", null);
    assertEquals("c|0|acme|", base.encode());
    assertEquals(base, UsageKey.parse(base.encode()));
  }

  @Test
  void theWindowIsTheHourHoldingTheInstant() {
    assertEquals(3_600_000L, UsageKey.windowStart(3_600_000L));
    assertEquals(3_600_000L, UsageKey.windowStart(7_199_999L));
    assertEquals(-3_600_000L, UsageKey.windowStart(-1));
  }

  @Test
  void somethingElseIsRefusedNamingIt() {
    var e = assertThrows(IllegalArgumentException.class, () -> UsageKey.parse("a|b"));
    assertEquals(
        "'a|b' is not a lora.usage key (consumer|windowStart|tenant|adapter)", e.getMessage());
  }
}
