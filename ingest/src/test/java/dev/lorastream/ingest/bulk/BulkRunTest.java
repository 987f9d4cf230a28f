package dev.lorastream.ingest.bulk;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.schemas.ErrorCode;
import dev.lorastream.schemas.FinishReason;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.Usage;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** The bulk steps with an in-memory fake of {@code LoraClient::submit}. */
class BulkRunTest {
  private static final BulkRun.Settings SETTINGS = new BulkRun.Settings("t1", "a1", 32, null, 4);

  private static BulkDoc doc(int line, String id) {
    return new BulkDoc(line, id, "text of " + id, null, null, null);
  }

  private static InferenceResult answer(InferenceRequest.Builder r, String text) {
    return InferenceResult.newBuilder()
        .setRequestId(r.getRequestId())
        .setTenantId(r.getTenantId())
        .setText(text)
        .setFinishReason(FinishReason.STOP)
        .setUsage(new Usage(5, 2))
        .build();
  }

  private static Progress quiet(int total) {
    return new Progress(total, new PrintWriter(new StringWriter()), false, System::nanoTime);
  }

  @Test
  void planSkipsAnsweredIdsAndRetriesFailedOnes() {
    Map<String, ResultRow> previous = new LinkedHashMap<>();
    previous.put("a", new ResultRow("a", "r", "done", "STOP", null, null, 1, 1));
    previous.put("b", ResultRow.failure("b", "r", ErrorCode.INTERNAL, "boom"));
    List<BulkDoc> todo = BulkRun.plan(List.of(doc(1, "a"), doc(2, "b"), doc(3, "c")), previous);
    assertEquals(List.of("b", "c"), todo.stream().map(BulkDoc::id).toList());
  }

  @Test
  void requestCarriesTenantAdapterTextAndSamplingDefaults() {
    InferenceRequest.Builder r =
        BulkRun.request(new BulkDoc(1, "x", "hello", null, 0.5f, null), SETTINGS);
    assertEquals("t1", r.getTenantId());
    assertEquals("a1", r.getAdapterId());
    assertEquals("hello", r.getPrompt());
    assertEquals(32, r.getSampling().getMaxTokens(), "the command's default");
    assertEquals(0.5f, r.getSampling().getTemperature(), "the line's own value");
    assertEquals(36, r.getRequestId().length());
    var base = BulkRun.request(doc(1, "y"), new BulkRun.Settings("t", null, null, null, 1));
    assertNull(base.getAdapterId());
    assertEquals(16, base.getSampling().getMaxTokens(), "the schema's default");
  }

  @Test
  void bulkRequestsRunBelowOnlineTrafficUnlessToldOtherwise() {
    assertEquals(-5, BulkRun.request(doc(1, "y"), SETTINGS).getPriority());
    assertEquals(0, InferenceRequest.newBuilder().getPriority(), "online: the schema's default");
    var told = new BulkRun.Settings("t", null, null, null, 1, 3);
    assertEquals(3, BulkRun.request(doc(1, "y"), told).getPriority());
    var bad =
        assertThrows(
            IllegalArgumentException.class,
            () -> new BulkRun.Settings("t", null, null, null, 1, 11));
    assertEquals(
        "priority=11 is out of range: must be in [-10, 10] (higher runs first; 0 = normal)",
        bad.getMessage());
  }

  @Test
  void executesWithBoundedConcurrencyAndOutputsInInputOrder() throws Exception {
    ScheduledExecutorService pool = Executors.newScheduledThreadPool(4);
    AtomicInteger inFlight = new AtomicInteger();
    AtomicInteger maxInFlight = new AtomicInteger();
    BulkRun.Submitter fake =
        r -> { // replies after a random delay: completion order differs from input order
          maxInFlight.accumulateAndGet(inFlight.incrementAndGet(), Math::max);
          CompletableFuture<InferenceResult> f = new CompletableFuture<>();
          pool.schedule(
              () -> {
                inFlight.decrementAndGet();
                f.complete(answer(r, "answer to " + r.getPrompt()));
              },
              ThreadLocalRandom.current().nextInt(5),
              TimeUnit.MILLISECONDS);
          return f;
        };
    List<BulkDoc> docs = new ArrayList<>();
    for (int i = 0; i < 50; i++) {
      docs.add(doc(i + 1, "d" + i));
    }
    ConcurrentLinkedQueue<String> journal = new ConcurrentLinkedQueue<>();
    Map<String, ResultRow> fresh =
        BulkRun.execute(docs, SETTINGS, fake, row -> journal.add(row.id()), quiet(50));
    pool.shutdown();
    assertTrue(maxInFlight.get() <= 4, "max in flight " + maxInFlight);
    assertEquals(50, journal.size());
    BulkRun.Outcome out = BulkRun.assemble(new JsonlInput(docs, List.of()), Map.of(), fresh);
    assertEquals(
        docs.stream().map(BulkDoc::id).toList(), out.rows().stream().map(ResultRow::id).toList());
    assertEquals("answer to text of d7", out.rows().get(7).text());
    assertTrue(out.failures().isEmpty());
  }

  @Test
  void failuresBecomeErrorRowsAndAreListed() throws Exception {
    BulkRun.Submitter fake =
        r ->
            switch (r.getPrompt()) {
              case "text of slow" ->
                  CompletableFuture.failedFuture(new TimeoutException("no reply within 5 ms"));
              case "text of err" ->
                  CompletableFuture.completedFuture(
                      InferenceResult.newBuilder()
                          .setRequestId(r.getRequestId())
                          .setTenantId("t1")
                          .setFinishReason(FinishReason.ERROR)
                          .setErrorCode(ErrorCode.UNKNOWN_ADAPTER)
                          .setErrorMessage("no adapter a1")
                          .build());
              case "text of throws" -> throw new IllegalStateException("producer closed");
              default -> CompletableFuture.completedFuture(answer(r, "ok"));
            };
    List<BulkDoc> docs =
        List.of(
            doc(1, "fine"),
            doc(2, "slow"),
            doc(3, "err"),
            BulkDoc.invalid(4, "bad", "line 4: \"text\" missing or not a string"),
            doc(5, "throws"));
    JsonlInput input = new JsonlInput(docs, List.of(new Malformed(6, "not JSON")));
    Map<String, ResultRow> fresh = BulkRun.execute(docs, SETTINGS, fake, row -> {}, quiet(5));
    BulkRun.Outcome out = BulkRun.assemble(input, Map.of(), fresh);
    assertEquals(
        List.of("STOP", "ERROR", "ERROR", "ERROR", "ERROR"),
        out.rows().stream().map(ResultRow::finishReason).toList());
    assertEquals(
        List.of(
            "slow (line 2): DEADLINE_EXCEEDED client timeout: no reply within 5 ms",
            "err (line 3): UNKNOWN_ADAPTER no adapter a1",
            "bad (line 4): INVALID_PARAMS line 4: \"text\" missing or not a string",
            "throws (line 5): INTERNAL request failed: java.lang.IllegalStateException: producer closed",
            "line 6: not JSON"),
        out.failures());
    assertTrue(
        out.rows().get(1).requestId() != null, "the request id of a timed-out request is kept");
  }

  @Test
  void assembleKeepsEarlierAnswersInPlaceAndOldRowsAtTheEnd() {
    Map<String, ResultRow> previous = new LinkedHashMap<>();
    previous.put(
        "gone", new ResultRow("gone", "r0", "from an older input", "STOP", null, null, 1, 1));
    previous.put("b", new ResultRow("b", "r1", "earlier", "LENGTH", null, null, 1, 1));
    previous.put("c", ResultRow.failure("c", "r2", ErrorCode.INTERNAL, "boom"));
    Map<String, ResultRow> fresh =
        Map.of(
            "a", new ResultRow("a", "r3", "new a", "STOP", null, null, 1, 1),
            "c", new ResultRow("c", "r4", "retried c", "STOP", null, null, 1, 1));
    JsonlInput input = new JsonlInput(List.of(doc(1, "a"), doc(2, "b"), doc(3, "c")), List.of());
    BulkRun.Outcome out = BulkRun.assemble(input, previous, fresh);
    assertEquals(
        List.of("new a", "earlier", "retried c", "from an older input"),
        out.rows().stream().map(ResultRow::text).toList());
    assertEquals(Collections.emptyList(), out.failures());
  }
}
