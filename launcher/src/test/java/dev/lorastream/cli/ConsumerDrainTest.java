package dev.lorastream.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.batcher.BatcherApp;
import dev.lorastream.batcher.BatcherConfig;
import dev.lorastream.consumer.ConsumerSettings;
import dev.lorastream.consumer.InferenceConsumer;
import dev.lorastream.devstack.TestKafkaCluster;
import dev.lorastream.engine.sched.EngineConfig;
import dev.lorastream.ingest.LoraClient;
import dev.lorastream.ingest.LoraClientConfig;
import dev.lorastream.ingest.PromptTokenizer;
import dev.lorastream.ingest.StreamEvent;
import dev.lorastream.schemas.FinishReason;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.SamplingParams;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Flow;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * SIGTERM's graceful end ({@link InferenceConsumer#drain}): a consumer told to drain while it
 * computes a long request stops being ready at once, takes nothing new, finishes and commits the
 * request (its whole answer, not a cancel or a redelivery) and then returns from its poll loop.
 */
class ConsumerDrainTest {
  @TempDir Path tmp;

  @Test
  void aDrainingConsumerFinishesWhatItHasTakesNothingNewAndStops() throws Exception {
    DemoFixtures fx = DemoFixtures.prepare(tmp, tmp.resolve("work"), 0);
    String registry = "mock://drain-" + System.nanoTime();
    try (TestKafkaCluster cluster = TestKafkaCluster.start()) {
      DemoFixtures.createTopics(cluster.bootstrapServers());
      Properties bp = DemoFixtures.batcherProperties(cluster.bootstrapServers(), registry, "drain");
      bp.put(BatcherConfig.MAX_NEW_TOKENS, "512");
      bp.put(BatcherConfig.MAX_BATCH_TOKENS, "4096");
      try (BatcherApp batcher = BatcherApp.start(BatcherConfig.fromProperties(bp));
          InferenceConsumer consumer =
              new InferenceConsumer(
                  fx.consumerSettings(
                      cluster.bootstrapServers(),
                      registry,
                      "drain-consumer",
                      Map.of(ConsumerSettings.SHUTDOWN_GRACE_MS, "60000")),
                  EngineConfig.defaults(),
                  new SimpleMeterRegistry());
          PromptTokenizer tok = PromptTokenizer.load(fx.modelDir());
          LoraClient client =
              new LoraClient(
                  LoraClientConfig.of(cluster.bootstrapServers(), registry)
                      .withDefaultTimeout(Duration.ofSeconds(90)),
                  tok,
                  null)) {
        CompletableFuture<Void> served = new CompletableFuture<>();
        Thread serving =
            Thread.ofPlatform()
                .start(
                    () -> {
                      try {
                        consumer.run();
                        served.complete(null);
                      } catch (Throwable t) {
                        served.completeExceptionally(t);
                      }
                    });
        assertTrue(batcher.awaitRunning(Duration.ofSeconds(60)), "batcher running");
        long until = System.currentTimeMillis() + 60_000;
        while (!consumer.ready() && System.currentTimeMillis() < until) {
          Thread.sleep(20);
        }
        assertTrue(consumer.ready(), "ready once it polls");
        assertTrue(consumer.live());

        // a long request (end-of-sequence ignored): drain once its first token has streamed
        CompletableFuture<Void> firstChunk = new CompletableFuture<>();
        CompletableFuture<InferenceResult> result = new CompletableFuture<>();
        client.stream(req("long", 300))
            .subscribe(
                new Flow.Subscriber<StreamEvent>() {
                  @Override
                  public void onSubscribe(Flow.Subscription s) {
                    s.request(Long.MAX_VALUE);
                  }

                  @Override
                  public void onNext(StreamEvent e) {
                    if (e instanceof StreamEvent.Chunk) {
                      firstChunk.complete(null);
                    } else if (e instanceof StreamEvent.Result r) {
                      result.complete(r.result());
                    }
                  }

                  @Override
                  public void onError(Throwable t) {
                    result.completeExceptionally(t);
                  }

                  @Override
                  public void onComplete() {}
                });
        firstChunk.get(60, TimeUnit.SECONDS);
        consumer.drain();
        assertFalse(consumer.ready(), "not ready from the drain on");
        assertTrue(consumer.live(), "alive while it drains");
        // sent after the drain: nobody takes it while this consumer holds the partitions
        CompletableFuture<InferenceResult> late = client.submit(req("late", 4));

        InferenceResult r = result.get(60, TimeUnit.SECONDS);
        assertNull(r.getErrorCode(), r.getErrorMessage());
        assertEquals(
            FinishReason.LENGTH,
            r.getFinishReason(),
            r.getTokenIds().size() + " tokens: " + r.getText());
        assertEquals(300, r.getTokenIds().size(), "computed to its end, not cancelled");
        served.get(60, TimeUnit.SECONDS); // the poll loop returned
        assertFalse(
            late.isDone(),
            () ->
                "the late request was not served by the draining consumer: "
                    + late.handle((v, e) -> v != null ? v.toString() : e.toString()).join());
        serving.join(10_000);
      }
    }
  }

  private static InferenceRequest.Builder req(String id, int maxTokens) {
    return InferenceRequest.newBuilder()
        .setTenantId("acme")
        .setRequestId(id)
        .setPrompt("Once upon a time")
        .setSampling(
            SamplingParams.newBuilder()
                .setMaxTokens(maxTokens)
                .setTemperature(0f)
                .setIgnoreEos(true)
                .build());
  }
}
