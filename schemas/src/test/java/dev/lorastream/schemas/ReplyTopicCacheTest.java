package dev.lorastream.schemas;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.schemas.ReplyTopics.State;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.common.errors.TimeoutException;
import org.junit.jupiter.api.Test;

/** {@link ReplyTopicCache} as a state machine: ask, then check what the source was asked. */
class ReplyTopicCacheTest {

  long now = 1_000;
  final Map<String, State> cluster = new HashMap<>();
  final List<String> asked = new ArrayList<>();
  RuntimeException failNext;
  final ReplyTopicCache cache =
      new ReplyTopicCache(
          topic -> {
            asked.add(topic);
            if (failNext != null) {
              RuntimeException e = failNext;
              failNext = null;
              throw e;
            }
            return cluster.getOrDefault(topic, State.MISSING);
          },
          30_000,
          1_000,
          () -> now);

  @Test
  void anExistingTopicIsTrustedForTheCacheTime() {
    cluster.put("t", State.EXISTS);
    assertEquals(State.EXISTS, cache.state("t"));
    now += 29_999;
    assertEquals(State.EXISTS, cache.state("t"));
    assertEquals(List.of("t"), asked);
    now += 1;
    cache.state("t");
    assertEquals(List.of("t", "t"), asked);
  }

  @Test
  void aMissingTopicIsAskedAboutAgainAfterTheRecheckTime() {
    assertEquals(State.MISSING, cache.state("t"));
    cluster.put("t", State.EXISTS); // created meanwhile
    now += 999;
    assertEquals(
        State.MISSING, cache.state("t"), "a flood of requests costs one lookup per recheck time");
    now += 1;
    assertEquals(State.EXISTS, cache.state("t"));
    assertEquals(List.of("t", "t"), asked);
  }

  @Test
  void aFailedLookupIsNotRemembered() {
    failNext = new TimeoutException("no answer");
    assertThrows(TimeoutException.class, () -> cache.state("t"));
    cluster.put("t", State.EXISTS);
    assertEquals(State.EXISTS, cache.state("t"));
    assertEquals(List.of("t", "t"), asked);
  }

  @Test
  void forgetAllSendsTheNextQuestionToTheSource() {
    cluster.put("t", State.EXISTS);
    cache.state("t");
    cluster.remove("t"); // deleted while cached as existing
    cache.forgetAll();
    assertEquals(State.MISSING, cache.state("t"));
  }

  @Test
  void sizeIsBounded() {
    for (int i = 0; i <= ReplyTopicCache.MAX_ENTRIES; i++) {
      cache.state("t" + i);
    }
    assertTrue(cache.size() <= ReplyTopicCache.MAX_ENTRIES, "size " + cache.size());
  }
}
