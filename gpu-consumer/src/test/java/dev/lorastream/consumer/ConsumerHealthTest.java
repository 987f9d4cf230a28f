package dev.lorastream.consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.engine.backends.Backends;
import dev.lorastream.engine.model.LlamaModel;
import dev.lorastream.engine.model.LoadedModel;
import dev.lorastream.engine.model.ModelLoader;
import dev.lorastream.engine.ops.Ops;
import dev.lorastream.engine.sample.SamplingParams;
import dev.lorastream.engine.sched.Engine;
import dev.lorastream.engine.sched.EngineConfig;
import dev.lorastream.engine.sched.EngineError;
import dev.lorastream.engine.sched.EngineLoop;
import dev.lorastream.engine.sched.GenerationRequest;
import dev.lorastream.engine.sched.GenerationResult;
import dev.lorastream.engine.testdata.ModelGenerator;
import dev.lorastream.schemas.MetricsServer;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The consumer's {@code /health}: UP only while the poll loop runs and the engine loop has not
 * failed. The engine here is real (tiny model, CPU) and fails the way a broken step does: its token
 * decoder throws when a request's stop string is first looked for, which stops the loop with a
 * fatal error and fails the request.
 */
class ConsumerHealthTest {
  private static final SamplingParams STOP_AT_ZZ =
      new SamplingParams(0f, 0, 1f, 0L, 4, List.of(), List.of("zz"));

  @TempDir Path tmp;

  @Test
  void healthTurns503WhenTheEngineLoopFails() throws Exception {
    Path dir = tmp.resolve("m");
    ModelGenerator.make("tiny", ModelGenerator.Options.defaults(), dir);
    try (Ops ops = Backends.create("cpu");
        LoadedModel lm = ModelLoader.load(dir, ops);
        Engine engine =
            new Engine(
                new LlamaModel(lm.config(), lm.weights(), ops, LlamaModel.LoraKernel.SGMV),
                EngineConfig.defaults().withKvBlocks(32),
                id -> {
                  throw new NoSuchElementException(id);
                },
                ids -> {
                  throw new IllegalStateException("decoder broke");
                });
        EngineLoop loop = new EngineLoop(engine, "engine-health-test")) {
      ConsumerHealth health = new ConsumerHealth(loop::fatal, () -> true);
      PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
      try (MetricsServer server =
              MetricsServer.start(registry, 0, ConsumerSettings.METRICS_PORT, health);
          HttpClient http = HttpClient.newHttpClient()) {
        URI uri = URI.create("http://127.0.0.1:" + server.port() + "/health");
        HttpRequest get = HttpRequest.newBuilder(uri).build();
        health.polling(true);
        assertEquals(200, http.send(get, HttpResponse.BodyHandlers.ofString()).statusCode());

        GenerationResult r =
            loop.submit(new GenerationRequest("a", new int[] {1, 5, 6}, null, STOP_AT_ZZ))
                .get(60, TimeUnit.SECONDS);
        assertEquals(EngineError.INTERNAL, r.errorCode(), r.errorMessage());
        assertNotNull(loop.fatal());
        HttpResponse<String> down = http.send(get, HttpResponse.BodyHandlers.ofString());
        assertEquals(503, down.statusCode());
        assertEquals("DOWN\n", down.body());
      }
    }
  }

  @Test
  void downUntilThePollLoopRunsAndAfterItEnds() {
    ConsumerHealth health = new ConsumerHealth(() -> null, () -> true);
    assertFalse(health.getAsBoolean(), "starting: model loading, catalog catching up");
    health.polling(true);
    assertTrue(health.getAsBoolean());
    health.polling(false);
    assertFalse(health.getAsBoolean(), "stopped or failed");
  }

  @Test
  void downWhileTheCatalogReaderIsNotLive() {
    java.util.concurrent.atomic.AtomicBoolean live =
        new java.util.concurrent.atomic.AtomicBoolean();
    ConsumerHealth health = new ConsumerHealth(() -> null, live::get);
    health.polling(true);
    assertFalse(health.getAsBoolean(), "catalog reader dead or stuck");
    live.set(true);
    assertTrue(health.getAsBoolean());
  }
}
