package dev.lorastream.consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.engine.backends.Backends;
import dev.lorastream.engine.model.LlamaModel;
import dev.lorastream.engine.model.LoadedModel;
import dev.lorastream.engine.model.ModelLoader;
import dev.lorastream.engine.ops.Ops;
import dev.lorastream.engine.sched.Engine;
import dev.lorastream.engine.sched.EngineConfig;
import dev.lorastream.engine.sched.EngineLoop;
import dev.lorastream.engine.sched.TenantServed;
import dev.lorastream.engine.testdata.ModelGenerator;
import dev.lorastream.schemas.ErrorCode;
import dev.lorastream.schemas.FinishReason;
import dev.lorastream.schemas.InferenceBatch;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.SamplingParams;
import java.nio.file.Path;
import java.util.BitSet;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.function.LongSupplier;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link RequestIntake} over a real engine loop (tiny model, CPU): a request that fails, at intake
 * or inside the engine, gets its own error reply and the next request is served.
 */
class RequestIntakeTest {
  @TempDir Path tmp;

  private static InferenceRequest request(String id, String prompt, List<Integer> tokens, int max) {
    return InferenceRequest.newBuilder()
        .setRequestId(id)
        .setTenantId("t")
        .setCreatedEpochMs(System.currentTimeMillis())
        .setPrompt(prompt)
        .setPromptTokenIds(tokens)
        .setSampling(SamplingParams.newBuilder().setMaxTokens(max).build())
        .build();
  }

  private interface Body {
    void run(RequestIntake intake, EngineLoop loop) throws Exception;
  }

  private void withIntake(Function<String, int[]> encode, Body body) throws Exception {
    withIntake(encode, System::currentTimeMillis, body);
  }

  /**
   * @param engineClockMs the engine's wall clock (the intake's is the real one)
   */
  private void withIntake(Function<String, int[]> encode, LongSupplier engineClockMs, Body body)
      throws Exception {
    Path dir = tmp.resolve("m");
    ModelGenerator.make("tiny", ModelGenerator.Options.defaults(), dir);
    try (Ops ops = Backends.create("cpu");
        LoadedModel lm = ModelLoader.load(dir, ops);
        Engine engine =
            new Engine(
                new LlamaModel(lm.config(), lm.weights(), ops, LlamaModel.LoraKernel.SGMV),
                EngineConfig.defaults().withKvBlocks(2), // 32 tokens of KV cache
                id -> {
                  throw new NoSuchElementException(id);
                },
                null,
                engineClockMs);
        EngineLoop loop = new EngineLoop(engine, "engine-intake-test")) {
      body.run(new RequestIntake(loop, encode, "c1"), loop);
    }
  }

  private static InferenceResult get(java.util.concurrent.CompletableFuture<InferenceResult> f)
      throws Exception {
    return f.get(60, TimeUnit.SECONDS);
  }

  @Test
  void aTokenizerFailureBecomesThatRequestsErrorReplyAndTheNextIsServed() throws Exception {
    Function<String, int[]> encode =
        text -> {
          if (text.equals("boom")) {
            throw new IllegalArgumentException("no token for U+D800");
          }
          return new int[] {1, 5, 6};
        };
    withIntake(
        encode,
        (intake, loop) -> {
          InferenceResult bad = get(intake.submit(request("bad", "boom", List.of(), 3), "b1"));
          assertEquals(FinishReason.ERROR, bad.getFinishReason());
          assertEquals(ErrorCode.INTERNAL, bad.getErrorCode());
          assertEquals(
              "the tokenizer failed on the prompt text (4 chars):"
                  + " java.lang.IllegalArgumentException: no token for U+D800",
              bad.getErrorMessage());
          assertEquals("bad", bad.getRequestId());
          InferenceResult good = get(intake.submit(request("good", "fine", List.of(), 3), "b1"));
          assertNull(good.getErrorCode(), good.getErrorMessage());
          assertEquals(3, good.getTokenIds().size());
          assertEquals(
              new TenantServed.Tokens(3, 3),
              loop.engine().scheduler().served().tokens("t"),
              "the request's tenant reaches the engine's fair shares");
          assertNull(loop.fatal());
        });
  }

  @Test
  void aRequestFailingInsideTheEngineGetsItsCodeAndTheLoopKeepsServing() throws Exception {
    withIntake(
        text -> new int[] {1},
        (intake, loop) -> {
          // 30 prompt tokens + 5 new do not fit the 32-token cache: refused inside the engine
          InferenceResult tooLong =
              get(
                  intake.submit(
                      request("long", null, java.util.Collections.nCopies(30, 1), 5), "b"));
          assertEquals(ErrorCode.PROMPT_TOO_LONG, tooLong.getErrorCode());
          InferenceResult outside =
              get(intake.submit(request("out", null, List.of(1, 99_999), 2), "b"));
          assertEquals(ErrorCode.INVALID_PARAMS, outside.getErrorCode());
          assertEquals(
              "prompt token 1 is 99999, outside the vocabulary [0, 512)",
              outside.getErrorMessage());
          InferenceResult ok = get(intake.submit(request("ok", null, List.of(1, 5, 6), 2), "b"));
          assertNull(ok.getErrorCode(), ok.getErrorMessage());
          assertEquals(FinishReason.LENGTH, ok.getFinishReason());
          assertEquals(2, ok.getTokenIds().size());
          assertNull(loop.fatal());
        });
  }

  @Test
  void aPriorityOutOfRangeIsInvalidParams() throws Exception {
    withIntake(
        text -> new int[] {1},
        (intake, loop) -> {
          InferenceRequest high = request("high", null, List.of(1, 5), 2);
          high.setPriority(11);
          InferenceResult r = get(intake.submit(high, "b"));
          assertEquals(ErrorCode.INVALID_PARAMS, r.getErrorCode());
          assertEquals(
              "priority=11 is out of range: must be in [-10, 10] (higher runs first; 0 = normal)",
              r.getErrorMessage());
          InferenceRequest lowest = request("lowest", null, List.of(1, 5), 2);
          lowest.setPriority(-10);
          assertNull(get(intake.submit(lowest, "b")).getErrorCode());
        });
  }

  @Test
  void cancellingABatchCancelsItsUnfinishedRequestsInTheEngineAndNotTheFinishedOnes()
      throws Exception {
    // the engine reads its clock at each step for requests with a deadline: holding that read
    // keeps "long" from finishing before the cancel, however fast the machine
    CountDownLatch gate = new CountDownLatch(1);
    LongSupplier heldClock =
        () -> {
          if (Thread.currentThread().getName().equals("engine-intake-test")) {
            try {
              gate.await();
            } catch (InterruptedException e) {
              Thread.currentThread().interrupt();
            }
          }
          return System.currentTimeMillis();
        };
    withIntake(
        text -> new int[] {1},
        heldClock,
        (intake, loop) -> {
          // a 32-token cache holds one of these at a time: "long" runs, "queued" waits
          long farDeadline = System.currentTimeMillis() + TimeUnit.HOURS.toMillis(1);
          InferenceRequest long_ = request("long", null, List.of(1, 5), 29);
          long_.setDeadlineEpochMs(farDeadline);
          InferenceRequest queued = request("queued", null, List.of(1, 6), 29);
          queued.setDeadlineEpochMs(farDeadline);
          InferenceBatch batch =
              InferenceBatch.newBuilder()
                  .setBatchId("b")
                  .setCreatedEpochMs(0)
                  .setRequests(List.of(request("done", null, List.of(1, 5), 1), long_, queued))
                  .build();
          BitSet answered = new BitSet();
          answered.set(0); // "done" was answered before: not computed, not cancelled
          InFlightBatch b = intake.start(new TopicPartition("lora.batches", 0), 7, batch, answered);
          assertNull(b.results().get(0));

          assertEquals(2, intake.cancel(b));
          gate.countDown();

          for (int r = 1; r < 3; r++) {
            InferenceResult cancelled = get(b.results().get(r));
            assertEquals(ErrorCode.CANCELLED, cancelled.getErrorCode());
            assertTrue(
                cancelled.getErrorMessage().startsWith("cancelled after "),
                cancelled.getErrorMessage());
          }
          assertEquals(2, loop.engine().stats().cancelled());
          assertEquals(0, loop.engine().stats().cancelsIgnored());
          assertEquals(0, intake.cancel(b), "nothing left to cancel");
          InferenceResult next = get(intake.submit(request("long", null, List.of(1, 5), 3), "b2"));
          assertNull(next.getErrorCode(), "the same id submitted again is served");
        });
  }

  @Test
  void theEngineIdOfARequestIsItsTenantAndRequestIdWithoutAmbiguity() {
    assertEquals("4:acme/r-1", RequestIntake.engineId("acme", "r-1"));
    assertTrue(
        !RequestIntake.engineId("a/b", "c").equals(RequestIntake.engineId("a", "b/c")),
        "a '/' in either part cannot make two identities one");
  }

  @Test
  void theRequestsDeadlineReachesTheEngine() throws Exception {
    long now = System.currentTimeMillis();
    long deadline = now + 60_000; // ahead of the intake's clock, behind the engine's
    withIntake(
        text -> new int[] {1},
        () -> now + 120_000,
        (intake, loop) -> {
          InferenceRequest r = request("d", null, List.of(1, 5), 2);
          r.setDeadlineEpochMs(deadline);
          InferenceResult late = get(intake.submit(r, "b"));
          assertEquals(ErrorCode.DEADLINE_EXCEEDED, late.getErrorCode());
          assertEquals(
              "the deadline "
                  + deadline
                  + " passed 60000 ms before the engine received the request",
              late.getErrorMessage());
        });
  }
}
