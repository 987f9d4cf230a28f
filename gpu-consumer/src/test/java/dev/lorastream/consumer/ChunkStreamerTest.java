package dev.lorastream.consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.engine.sched.TokenDecoder;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.SamplingParams;
import dev.lorastream.schemas.StreamChunk;
import dev.lorastream.schemas.Tenancy;
import dev.lorastream.schemas.Topics;
import dev.lorastream.schemas.registry.MockSchemaRegistry;
import dev.lorastream.schemas.serde.AvroSerdeConfig;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.producer.MockProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.TimeoutException;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The chunks {@link ChunkStreamer} sends (through Kafka's MockProducer; the broker path: CLI). */
class ChunkStreamerTest {
  private static final String SCOPE = "chunk-streamer-test";
  private static final TokenDecoder BYTES =
      ids -> {
        byte[] b = new byte[ids.length];
        for (int i = 0; i < ids.length; i++) {
          b[i] = (byte) ids[i];
        }
        return new String(b, StandardCharsets.UTF_8);
      };

  private final MockProducer<String, StreamChunk> producer =
      new MockProducer<>(
          false,
          null,
          new StringSerializer(),
          Topics.STREAM
              .valueSerde(
                  Map.of(
                      AvroSerdeConfig.SCHEMA_REGISTRY_URL, MockSchemaRegistry.URL_PREFIX + SCOPE))
              .serializer());
  private final SimpleMeterRegistry meters = new SimpleMeterRegistry();

  @AfterEach
  void dropScope() {
    MockSchemaRegistry.dropScope(SCOPE);
  }

  private static InferenceRequest request(String tenant, String id) {
    return InferenceRequest.newBuilder()
        .setTenantId(tenant)
        .setRequestId(id)
        .setPromptTokenIds(List.of(1))
        .setSampling(SamplingParams.newBuilder().setStopStrings(List.of("!")).build())
        .setCreatedEpochMs(1)
        .build();
  }

  private static InferenceResult result(InferenceRequest r, String text) {
    return InferenceResult.newBuilder()
        .setRequestId(r.getRequestId())
        .setTenantId(r.getTenantId())
        .setText(text)
        .build();
  }

  @Test
  void oneChunkPerTokenThenALastOneWithTheRestOnTheTenantsTopic() {
    ChunkStreamer s = new ChunkStreamer(producer, BYTES, Tenancy.TOPICS, meters);
    InferenceRequest req = request("acme", "r1");
    ChunkStreamer.Stream stream = s.open(req, 4);
    byte[] e = "é".getBytes(StandardCharsets.UTF_8);
    stream.onToken(0, 'h');
    stream.onToken(1, e[0] & 0xff);
    stream.onToken(2, e[1] & 0xff);
    stream.onToken(3, '!'); // the stop string: not streamed
    stream.finish(result(req, "hé"));
    List<ProducerRecord<String, StreamChunk>> sent = producer.history();
    assertEquals(5, sent.size());
    for (int i = 0; i < 5; i++) {
      StreamChunk c = sent.get(i).value();
      assertEquals("lora.tenant.acme.stream", sent.get(i).topic());
      assertEquals("r1", sent.get(i).key());
      assertEquals(i, c.getIndex());
      assertEquals(4, c.getAttempt());
      assertEquals(i == 4, c.getLast());
    }
    assertEquals(
        List.of("h", "", "é", "", ""), sent.stream().map(r -> r.value().getText()).toList());
    assertEquals(List.of((int) '!'), sent.get(3).value().getTokenIds());
    assertEquals(List.of(), sent.get(4).value().getTokenIds());
  }

  @Test
  void aLaterOwnerOrALaterStartOfTheSameOwnerHasAHigherAttempt() {
    long first = ChunkStreamer.attempt(7, 1_764_900_000L);
    // the same static member restarted: same generation, later start
    long restarted = ChunkStreamer.attempt(7, 1_764_900_040L);
    // another consumer after a rebalance, although its process started earlier
    long otherOwner = ChunkStreamer.attempt(8, 1_764_000_000L);
    assertTrue(first < restarted, "restart");
    assertTrue(restarted < otherOwner, "new owner");
    assertEquals(7L << 32 | 1_764_900_000L, first);
  }

  @Test
  void aTopicWhoseMetadataTimedOutIsNotWaitedForAgain() {
    ChunkStreamer s = new ChunkStreamer(producer, BYTES, Tenancy.SHARED, meters);
    ChunkStreamer.Stream stream = s.open(request("acme", "r1"), 1);
    stream.onToken(0, 'a');
    assertEquals(Topics.STREAM.name(), producer.history().get(0).topic());
    // the send of 'a' fails as a send to a missing topic does after max.block.ms
    producer.errorNext(new TimeoutException("Topic lora.stream not present in metadata"));
    stream.onToken(1, 'b');
    stream.onToken(2, 'c');
    assertEquals(1, producer.history().size(), "muted: not sent");
    assertEquals(3.0, meters.counter("lorastream.consumer.stream.errors").count(), "a, b and c");
  }
}
