package dev.lorastream.cli;

import dev.lorastream.engine.sched.EngineLoop;
import dev.lorastream.engine.sched.GenerationRequest;
import dev.lorastream.engine.sched.GenerationResult;
import dev.lorastream.ingest.LoraClient;
import dev.lorastream.ingest.StreamEvent;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.SamplingParams;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Flow;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * The two paths of {@code bench pipeline}, sending the same {@link PipelineWorkload} at its arrival
 * times: through Kafka ({@link LoraClient#stream}: batcher, inference consumer, reply topic read
 * {@code read_committed}) or straight into an {@link EngineLoop} over the same model, adapters and
 * engine config. Sampling is the same on both (temperature 0.7, top-p 0.95, each request's seed),
 * so both generate the same tokens.
 */
final class PipelinePaths {
  static final float TEMPERATURE = 0.7f;
  static final float TOP_P = 0.95f;
  private static final Duration TIMEOUT = Duration.ofMinutes(10);

  private PipelinePaths() {}

  /** Per-request timestamps (System.nanoTime) filled by the callbacks of one path. */
  private static final class Timing {
    volatile long sent;
    volatile long first;
    volatile long done;
    volatile long doneEpochMs;
    volatile long createdEpochMs;
  }

  static PipelineRun kafka(LoraClient client, PipelineWorkload w, int rep) {
    return kafka(client, w, rep, "kafka");
  }

  /**
   * The Kafka path's run named {@code path}; request ids carry it with the repetition, so runs of
   * one repetition under two names are distinct requests to the batcher (not duplicates).
   */
  static PipelineRun kafka(LoraClient client, PipelineWorkload w, int rep, String path) {
    List<PipelineWorkload.Item> items = w.items();
    List<Timing> timings = new ArrayList<>();
    List<CompletableFuture<InferenceResult>> results = new ArrayList<>();
    long start = System.nanoTime();
    for (PipelineWorkload.Item it : items) {
      Timing t = new Timing();
      timings.add(t);
      CompletableFuture<InferenceResult> f = new CompletableFuture<>();
      results.add(f);
      awaitArrival(start, it.arrivalMs());
      t.sent = System.nanoTime();
      t.createdEpochMs = System.currentTimeMillis();
      client.stream(request(it, path, rep, t.createdEpochMs), TIMEOUT)
          .subscribe(
              new Flow.Subscriber<>() {
                @Override
                public void onSubscribe(Flow.Subscription s) {
                  s.request(Long.MAX_VALUE);
                }

                @Override
                public void onNext(StreamEvent e) {
                  if (e instanceof StreamEvent.Chunk && t.first == 0) {
                    t.first = System.nanoTime();
                  } else if (e instanceof StreamEvent.Result r) {
                    t.done = System.nanoTime();
                    t.doneEpochMs = System.currentTimeMillis();
                    f.complete(r.result());
                  }
                }

                @Override
                public void onError(Throwable e) {
                  f.completeExceptionally(e);
                }

                @Override
                public void onComplete() {}
              });
    }
    List<PipelineRun.Sample> samples = new ArrayList<>();
    long last = start;
    for (int i = 0; i < items.size(); i++) {
      InferenceResult r = results.get(i).orTimeout(TIMEOUT.toSeconds(), TimeUnit.SECONDS).join();
      Timing t = timings.get(i);
      last = Math.max(last, t.done);
      // the consumer's last-token time: the request's createdEpochMs (set here at send) plus its
      // timings.totalMs (the consumer's engine finish, measured from createdEpochMs), both on this
      // JVM's wall clock, ms resolution; the reply seen: the client's Result event
      double lag = t.doneEpochMs - (t.createdEpochMs + r.getTimings().getTotalMs());
      samples.add(
          new PipelineRun.Sample(
              items.get(i).maxTokens(),
              r.getTokenIds().size(),
              r.getErrorCode() == null,
              t.first == 0 ? Double.NaN : (t.first - t.sent) / 1e6,
              (t.done - t.sent) / 1e6,
              lag));
    }
    return PipelineRun.of(path, rep, samples, (last - start) / 1e9);
  }

  private static InferenceRequest.Builder request(
      PipelineWorkload.Item it, String path, int rep, long created) {
    return InferenceRequest.newBuilder()
        .setRequestId(it.id() + "-" + path + "-r" + rep)
        .setTenantId(it.tenant())
        .setAdapterId(it.adapter())
        .setPrompt(it.prompt())
        .setCreatedEpochMs(created)
        .setSampling(
            SamplingParams.newBuilder()
                .setMaxTokens(it.maxTokens())
                .setTemperature(TEMPERATURE)
                .setTopP(TOP_P)
                .setSeed(it.seed())
                .build());
  }

  static dev.lorastream.engine.sample.SamplingParams engineParams(PipelineWorkload.Item it) {
    return new dev.lorastream.engine.sample.SamplingParams(
        TEMPERATURE, 0, TOP_P, it.seed(), it.maxTokens(), List.of(), List.of());
  }

  static PipelineRun engine(EngineLoop loop, PipelineWorkload w, int rep) {
    List<PipelineWorkload.Item> items = w.items();
    List<Timing> timings = new ArrayList<>();
    List<CompletableFuture<GenerationResult>> results = new ArrayList<>();
    long start = System.nanoTime();
    for (PipelineWorkload.Item it : items) {
      Timing t = new Timing();
      timings.add(t);
      awaitArrival(start, it.arrivalMs());
      t.sent = System.nanoTime();
      results.add(
          loop.submit(
                  new GenerationRequest(
                      it.id() + "-e" + rep,
                      it.promptTokens(),
                      it.adapter(),
                      engineParams(it),
                      0,
                      0,
                      it.tenant()),
                  (index, token) -> {
                    if (index == 0) {
                      t.first = System.nanoTime();
                    }
                  })
              .whenComplete((r, e) -> t.done = System.nanoTime()));
    }
    List<PipelineRun.Sample> samples = new ArrayList<>();
    long last = start;
    for (int i = 0; i < items.size(); i++) {
      GenerationResult r = results.get(i).orTimeout(TIMEOUT.toSeconds(), TimeUnit.SECONDS).join();
      Timing t = timings.get(i);
      last = Math.max(last, t.done);
      samples.add(
          new PipelineRun.Sample(
              items.get(i).maxTokens(),
              r.tokens().length,
              r.ok(),
              t.first == 0 ? Double.NaN : (t.first - t.sent) / 1e6,
              (t.done - t.sent) / 1e6,
              Double.NaN));
    }
    return PipelineRun.of("engine", rep, samples, (last - start) / 1e9);
  }

  private static void awaitArrival(long start, double arrivalMs) {
    long due = start + (long) (arrivalMs * 1e6);
    for (long now; (now = System.nanoTime()) < due; ) {
      LockSupport.parkNanos(due - now);
    }
  }
}
