package dev.lorastream.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.batcher.BatcherApp;
import dev.lorastream.batcher.BatcherConfig;
import dev.lorastream.consumer.ConsumerSettings;
import dev.lorastream.consumer.InferenceConsumer;
import dev.lorastream.devstack.TestKafkaCluster;
import dev.lorastream.engine.sched.EngineConfig;
import dev.lorastream.engine.testdata.ModelGenerator;
import dev.lorastream.engine.testdata.TokenizerJson;
import dev.lorastream.ingest.LoraClient;
import dev.lorastream.ingest.LoraClientConfig;
import dev.lorastream.ingest.PromptTokenizer;
import dev.lorastream.ingest.StreamEvent;
import dev.lorastream.schemas.CancelRequest;
import dev.lorastream.schemas.ErrorCode;
import dev.lorastream.schemas.FinishReason;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.SamplingParams;
import dev.lorastream.schemas.StreamChunk;
import dev.lorastream.schemas.Topics;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Flow;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Streaming and cancelling through the whole pipeline (client, batcher, inference consumer on the
 * generated tiny model with a context of 4096 tokens) on an in-process broker, shared tenancy.
 */
class StreamCancelPipelineTest {
  private static final int CONTEXT = 4096;

  @TempDir Path tmp;

  /** Collects a stream's events; {@link #done} completes when the publisher does. */
  private static final class Collector implements Flow.Subscriber<StreamEvent> {
    final List<StreamEvent> events = new CopyOnWriteArrayList<>();
    final CompletableFuture<List<StreamEvent>> done = new CompletableFuture<>();
    final CompletableFuture<Void> firstChunk = new CompletableFuture<>();

    @Override
    public void onSubscribe(Flow.Subscription s) {
      s.request(Long.MAX_VALUE);
    }

    @Override
    public void onNext(StreamEvent e) {
      events.add(e);
      if (e instanceof StreamEvent.Chunk) {
        firstChunk.complete(null);
      }
    }

    @Override
    public void onError(Throwable t) {
      done.completeExceptionally(t);
    }

    @Override
    public void onComplete() {
      done.complete(List.copyOf(events));
    }
  }

  @Test
  void chunksAddUpToTheResultAndACancelStopsOnlyItsOwnTenantsRequest() throws Exception {
    ModelGenerator.Spec t = ModelGenerator.preset("tiny");
    Path model = tmp.resolve("model");
    ModelGenerator.write(
        new ModelGenerator.Spec(
            t.arch(),
            t.hidden(),
            t.intermediate(),
            t.layers(),
            t.heads(),
            t.kvHeads(),
            t.vocab(),
            CONTEXT,
            t.dtype(),
            t.tieEmbeddings(),
            t.llama3Rope()),
        1,
        1,
        TokenizerJson.DEFAULT_MERGES,
        model);
    String registry = "mock://stream-cancel-" + System.nanoTime();
    try (TestKafkaCluster cluster = TestKafkaCluster.start()) {
      DemoFixtures.createTopics(cluster.bootstrapServers());
      Properties bp = new Properties();
      bp.put("bootstrap.servers", cluster.bootstrapServers());
      bp.put("schema.registry.url", registry);
      bp.put("state.dir", Files.createTempDirectory(tmp, "batcher").toString());
      bp.put(BatcherConfig.METRICS_PORT, "-1");
      bp.put(BatcherConfig.MAX_WAIT_MS, "20");
      bp.put(BatcherConfig.MAX_PROMPT_TOKENS, "64");
      bp.put(BatcherConfig.MAX_NEW_TOKENS, String.valueOf(CONTEXT));
      bp.put(BatcherConfig.MAX_BATCH_TOKENS, String.valueOf(2 * CONTEXT));
      bp.put("commit.interval.ms", "50");
      SimpleMeterRegistry meters = new SimpleMeterRegistry();
      try (BatcherApp batcher = BatcherApp.start(BatcherConfig.fromProperties(bp));
          InferenceConsumer consumer =
              new InferenceConsumer(
                  ConsumerSettings.from(
                      Map.of(
                          ConsumerSettings.BOOTSTRAP,
                          cluster.bootstrapServers(),
                          ConsumerSettings.REGISTRY,
                          registry,
                          ConsumerSettings.MODEL,
                          model.toString(),
                          ConsumerSettings.ID,
                          "stream-consumer",
                          ConsumerSettings.METRICS_PORT,
                          "-1")),
                  EngineConfig.defaults(),
                  meters);
          PromptTokenizer tok = PromptTokenizer.load(model);
          LoraClient client =
              new LoraClient(
                  LoraClientConfig.of(cluster.bootstrapServers(), registry)
                      .withDefaultTimeout(Duration.ofSeconds(60)),
                  tok,
                  null)) {
        Thread serving = Thread.ofPlatform().start(() -> serve(consumer));
        assertTrue(batcher.awaitRunning(Duration.ofSeconds(60)), "batcher running");

        // 1. a stream: chunks 0..n-1 whose text adds up to the result's, then the result
        Collector c = new Collector();
        client.stream(req("acme", "s1", "Once upon a time", 40)).subscribe(c);
        List<StreamEvent> events = c.done.get(60, TimeUnit.SECONDS);
        assertInstanceOf(StreamEvent.Result.class, events.getLast());
        InferenceResult result = ((StreamEvent.Result) events.getLast()).result();
        assertNull(result.getErrorCode(), result.getErrorMessage());
        List<StreamChunk> chunks = chunks(events);
        StringBuilder text = new StringBuilder();
        List<Integer> tokens = new ArrayList<>();
        for (int i = 0; i < chunks.size(); i++) {
          assertEquals(i, chunks.get(i).getIndex());
          assertEquals(chunks.get(0).getAttempt(), chunks.get(i).getAttempt());
          assertEquals(i == chunks.size() - 1, chunks.get(i).getLast());
          text.append(chunks.get(i).getText());
          tokens.addAll(chunks.get(i).getTokenIds());
        }
        assertEquals(result.getText(), text.toString());
        assertEquals(result.getTokenIds(), tokens);
        assertEquals(result.getTokenIds().size() + 1, chunks.size(), "one per token, then last");
        assertTrue(!result.getText().isEmpty(), "the case needs text");

        // 2. a long request (maxTokens fills the context, end-of-sequence ignored: it cannot end
        // before its thousands of tokens), cancelled once it streams: CANCELLED with the text so
        // far; first a cancel of its id by another tenant, refused and counted
        int prompt = tok.tokenizer().encode("Once upon a time").length;
        KafkaProducer<String, CancelRequest> globex = cancelProducer(cluster, registry);
        globex.partitionsFor(Topics.CANCEL.name());
        Collector longOne = new Collector();
        client.stream(req("acme", "long", "Once upon a time", CONTEXT - prompt, true))
            .subscribe(longOne);
        longOne.firstChunk.get(60, TimeUnit.SECONDS);
        Collector twice = new Collector();
        client.stream(req("acme", "long", "Once upon a time", 4)).subscribe(twice);
        var refusal = twice.done.handle((v, e) -> e).get(10, TimeUnit.SECONDS);
        assertInstanceOf(IllegalArgumentException.class, refusal, String.valueOf(refusal));
        assertEquals("request id 'long' is already streaming on this client", refusal.getMessage());
        // another tenant's cancel of the id (not through LoraClient, which cancels only its own)
        rawCancel(globex, "globex", "long");
        globex.close();
        // then its own (same key, same partition: read after the other tenant's)
        client.cancel("long").get(30, TimeUnit.SECONDS);
        awaitCount(meters, "other_tenant", 1.0);
        List<StreamEvent> cancelled = longOne.done.get(60, TimeUnit.SECONDS);
        InferenceResult r = ((StreamEvent.Result) cancelled.getLast()).result();
        assertEquals(FinishReason.ERROR, r.getFinishReason());
        assertEquals(ErrorCode.CANCELLED, r.getErrorCode(), r.getErrorMessage());
        int generated = r.getTokenIds().size();
        assertTrue(generated > 0 && generated < CONTEXT - prompt, "stopped early: " + generated);
        StringBuilder soFar = new StringBuilder();
        chunks(cancelled).forEach(ch -> soFar.append(ch.getText()));
        assertEquals(r.getText(), soFar.toString());
        assertEquals(1.0, cancels(meters, "applied"));

        // 3. a cancel of a request that finished: ignored and counted
        // (submitted, not streamed, but asking for chunks: its chunks, one per token, then the
        // last, reach the client, which streams no "short": ignored and counted)
        InferenceResult shortOne =
            client
                .submit(req("acme", "short", "Hello", 2).setStream(true))
                .get(60, TimeUnit.SECONDS);
        int shortChunks = shortOne.getTokenIds().size() + 1;
        var foreign = client.meterRegistry().counter("lorastream.client.stream.chunks.foreign");
        long until = System.currentTimeMillis() + 30_000;
        while (foreign.count() < shortChunks && System.currentTimeMillis() < until) {
          Thread.sleep(20);
        }
        assertEquals(shortChunks, foreign.count());
        assertEquals(
            IllegalArgumentException.class,
            client.cancel("short").handle((v, e) -> e.getClass()).get(),
            "the client cancels only what it waits for");
        try (KafkaProducer<String, CancelRequest> p = cancelProducer(cluster, registry)) {
          rawCancel(p, "acme", "short");
        }
        awaitCount(meters, "unknown", 1.0);
        assertEquals(1.0, cancels(meters, "applied"));

        // 4. a request submitted without stream: its result, and not one chunk (they are counted
        // as they are sent, before the result is written)
        double chunksBefore = meters.counter("lorastream.consumer.stream.chunks").count();
        InferenceResult quiet =
            client.submit(req("acme", "quiet", "Hello", 4)).get(60, TimeUnit.SECONDS);
        assertNull(quiet.getErrorCode(), quiet.getErrorMessage());
        assertEquals(chunksBefore, meters.counter("lorastream.consumer.stream.chunks").count());
        consumer.stop();
        serving.join(10_000);
      }
    }
  }

  private static KafkaProducer<String, CancelRequest> cancelProducer(
      TestKafkaCluster cluster, String registry) {
    return new KafkaProducer<>(
        Map.of("bootstrap.servers", cluster.bootstrapServers()),
        new StringSerializer(),
        Topics.CANCEL.valueSerde(Map.of("schema.registry.url", registry)).serializer());
  }

  private static void rawCancel(KafkaProducer<String, CancelRequest> p, String tenant, String id)
      throws Exception {
    p.send(
            new ProducerRecord<>(
                Topics.CANCEL.name(),
                id,
                CancelRequest.newBuilder().setTenantId(tenant).setRequestId(id).build()))
        .get();
  }

  private static List<StreamChunk> chunks(List<StreamEvent> events) {
    return events.stream()
        .filter(e -> e instanceof StreamEvent.Chunk)
        .map(e -> ((StreamEvent.Chunk) e).chunk())
        .toList();
  }

  private static double cancels(SimpleMeterRegistry meters, String outcome) {
    return meters.counter("lorastream.consumer.cancels", "outcome", outcome).count();
  }

  private static void awaitCount(SimpleMeterRegistry meters, String outcome, double n)
      throws InterruptedException {
    long deadline = System.currentTimeMillis() + 30_000;
    while (cancels(meters, outcome) < n && System.currentTimeMillis() < deadline) {
      Thread.sleep(20);
    }
    assertEquals(n, cancels(meters, outcome), outcome);
  }

  private static InferenceRequest.Builder req(
      String tenant, String id, String prompt, int maxTokens) {
    return req(tenant, id, prompt, maxTokens, false);
  }

  private static InferenceRequest.Builder req(
      String tenant, String id, String prompt, int maxTokens, boolean ignoreEos) {
    return InferenceRequest.newBuilder()
        .setTenantId(tenant)
        .setRequestId(id)
        .setPrompt(prompt)
        .setSampling(
            SamplingParams.newBuilder()
                .setMaxTokens(maxTokens)
                .setTemperature(0.8f)
                .setSeed(3)
                .setIgnoreEos(ignoreEos)
                .build());
  }

  private static void serve(InferenceConsumer consumer) {
    try {
      consumer.run();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
