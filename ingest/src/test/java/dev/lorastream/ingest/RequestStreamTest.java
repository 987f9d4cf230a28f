package dev.lorastream.ingest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.StreamChunk;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Flow;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The events of one {@link RequestStream}: restarts, stale chunks, a result that overtook them. */
class RequestStreamTest {
  private final ScheduledThreadPoolExecutor timer = new ScheduledThreadPoolExecutor(1);
  private final AtomicInteger forgotten = new AtomicInteger();
  private final List<StreamEvent> events = new CopyOnWriteArrayList<>();
  private final CompletableFuture<Void> completed = new CompletableFuture<>();

  @AfterEach
  void stop() {
    timer.shutdownNow();
  }

  private RequestStream subscribed() {
    RequestStream s = new RequestStream("acme", timer, forgotten::incrementAndGet);
    s.subscribe(
        new Flow.Subscriber<>() {
          @Override
          public void onSubscribe(Flow.Subscription sub) {
            sub.request(Long.MAX_VALUE);
          }

          @Override
          public void onNext(StreamEvent e) {
            events.add(e);
          }

          @Override
          public void onError(Throwable t) {
            completed.completeExceptionally(t);
          }

          @Override
          public void onComplete() {
            completed.complete(null);
          }
        });
    return s;
  }

  private static StreamChunk chunk(int attempt, int index, String text, boolean last) {
    return StreamChunk.newBuilder()
        .setTenantId("acme")
        .setRequestId("r1")
        .setAttempt(attempt)
        .setIndex(index)
        .setText(text)
        .setTokenIds(List.of(index))
        .setLast(last)
        .build();
  }

  private static InferenceResult result(String text) {
    return InferenceResult.newBuilder()
        .setRequestId("r1")
        .setTenantId("acme")
        .setText(text)
        .setTokenIds(List.of(0, 1))
        .build();
  }

  @Test
  void aHigherAttemptRestartsTheStreamAndALowerOneIsDropped() throws Exception {
    RequestStream s = subscribed();
    assertEquals(RequestStream.Outcome.PUBLISHED, s.onChunk(chunk(3, 0, "Hel", false)));
    assertEquals(RequestStream.Outcome.PUBLISHED, s.onChunk(chunk(5, 0, "Hi", false)));
    assertEquals(RequestStream.Outcome.STALE, s.onChunk(chunk(3, 1, "lo", false)));
    assertEquals(RequestStream.Outcome.PUBLISHED, s.onChunk(chunk(5, 1, "!", true)));
    s.onResult(result("Hi!"));
    completed.get(5, TimeUnit.SECONDS);
    assertEquals(5, events.size());
    assertInstanceOf(StreamEvent.Chunk.class, events.get(0));
    assertEquals(new StreamEvent.Restart(3, 5, "Hel"), events.get(1));
    assertEquals("Hi", ((StreamEvent.Chunk) events.get(2)).chunk().getText());
    assertEquals("!", ((StreamEvent.Chunk) events.get(3)).chunk().getText());
    assertEquals("Hi!", ((StreamEvent.Result) events.get(4)).result().getText());
    assertEquals(1, forgotten.get());
  }

  @Test
  void aResultThatOvertookItsLastChunksWaitsForThem() throws Exception {
    RequestStream s = subscribed();
    s.onChunk(chunk(1, 0, "a", false));
    s.onResult(result("ab"));
    assertFalse(completed.isDone(), "the rest of the text is still coming");
    s.onChunk(chunk(1, 1, "b", true));
    completed.get(5, TimeUnit.SECONDS);
    assertInstanceOf(StreamEvent.Result.class, events.getLast());
    assertEquals(3, events.size());
    assertEquals(RequestStream.Outcome.AFTER_RESULT, s.onChunk(chunk(1, 2, "c", false)));
  }

  @Test
  void eventsBeforeTheSubscriberAreKeptForIt() throws Exception {
    RequestStream s = new RequestStream("acme", timer, forgotten::incrementAndGet);
    s.onChunk(chunk(1, 0, "ab", true));
    s.onResult(result("ab"));
    assertEquals(1, forgotten.get());
    CompletableFuture<List<StreamEvent>> got = new CompletableFuture<>();
    List<StreamEvent> seen = new CopyOnWriteArrayList<>();
    s.subscribe(
        new Flow.Subscriber<>() {
          @Override
          public void onSubscribe(Flow.Subscription sub) {
            sub.request(Long.MAX_VALUE);
          }

          @Override
          public void onNext(StreamEvent e) {
            seen.add(e);
          }

          @Override
          public void onError(Throwable t) {
            got.completeExceptionally(t);
          }

          @Override
          public void onComplete() {
            got.complete(List.copyOf(seen));
          }
        });
    List<StreamEvent> all = got.get(5, TimeUnit.SECONDS);
    assertEquals(2, all.size());
    assertTrue(all.getLast() instanceof StreamEvent.Result);
  }
}
