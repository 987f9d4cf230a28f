package dev.lorastream.batcher;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.schemas.AdapterCatalogRule;
import dev.lorastream.schemas.AdapterRecord;
import dev.lorastream.schemas.DlqHeaders;
import dev.lorastream.schemas.ErrorCode;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.Topics;
import dev.lorastream.schemas.registry.MockSchemaRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.test.TestRecord;
import org.junit.jupiter.api.Test;

/**
 * The batcher reads {@code lora.adapters} with {@link AdapterCatalogRule}: its adapter store skips
 * what the rule skips and keeps the rest, and the {@link CatalogDeadLetterTopology} writes each
 * skipped record to {@code lora.adapters.dlq}, and only those.
 */
class CatalogTopologyTest {
  static final byte[] JSON = "{\"adapterId\":\"broken\"}".getBytes(StandardCharsets.UTF_8);

  private static String header(Headers headers, String name) {
    var last = headers.lastHeader(name);
    return last == null ? null : new String(last.value(), StandardCharsets.UTF_8);
  }

  @Test
  void theAdapterStoreSkipsAnUndecodableRecordAndKeepsTheNextOne() {
    try (Harness h = new Harness(BatcherConfig.defaults())) {
      TestInputTopic<String, byte[]> raw =
          h.driver.createInputTopic(
              Topics.ADAPTERS.name(),
              Serdes.String().serializer(),
              Serdes.ByteArray().serializer());
      TestOutputTopic<String, InferenceResult> replies = h.replies(Topics.REPLIES.name());
      raw.pipeInput("broken", JSON);
      h.adapter("sql", "acme");
      h.send(Harness.request("r-broken", "broken"));
      h.send(Harness.request("r-sql", "sql"));
      List<InferenceResult> out = replies.readValuesToList();
      assertEquals(1, out.size());
      assertEquals("r-broken", out.getFirst().getRequestId());
      assertEquals(ErrorCode.UNKNOWN_ADAPTER, out.getFirst().getErrorCode());
      assertEquals(
          1, h.counter(BatcherMetrics.REQUESTS, "outcome", "accepted", "code", "none"), "r-sql");
      assertEquals(1, h.counter(BatcherMetrics.ADAPTERS_SKIPPED, "reason", "BAD_MAGIC"));
    }
  }

  @Test
  void onlySkippedRecordsGoToTheAdaptersDlqWithReasonHeaders() throws Exception {
    String scope = "catalog-dlq-test";
    Map<String, Object> serde =
        Map.of("schema.registry.url", MockSchemaRegistry.URL_PREFIX + scope);
    SimpleMeterRegistry meters = new SimpleMeterRegistry();
    Properties props = new Properties();
    props.put(StreamsConfig.APPLICATION_ID_CONFIG, "batcher-test-adapters-dlq");
    props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "unused:9092");
    props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
    props.put(StreamsConfig.STATE_DIR_CONFIG, Files.createTempDirectory("dlq-ttd").toString());
    try (TopologyTestDriver driver =
        new TopologyTestDriver(
            CatalogDeadLetterTopology.build(
                AdapterCatalogRule.of(serde), new BatcherMetrics(meters, BatcherConfig.defaults())),
            props,
            Harness.T0)) {
      TestInputTopic<String, byte[]> in =
          driver.createInputTopic(
              Topics.ADAPTERS.name(),
              Serdes.String().serializer(),
              Serdes.ByteArray().serializer());
      TestOutputTopic<byte[], byte[]> dlq =
          driver.createOutputTopic(
              Topics.ADAPTERS_DLQ.name(),
              Serdes.ByteArray().deserializer(),
              Serdes.ByteArray().deserializer());
      AdapterRecord ok =
          AdapterRecord.newBuilder()
              .setAdapterId("sql")
              .setSourceUri("file:///a/sql")
              .setRank(8)
              .setBaseModel("m")
              .setCreatedEpochMs(1)
              .build();
      in.pipeInput("sql", Topics.ADAPTERS.valueSerde(serde).serializer().serialize("x", ok));
      Headers original =
          new RecordHeaders().add("traceparent", "00-abc-def-01".getBytes(StandardCharsets.UTF_8));
      in.pipeInput(new TestRecord<>("broken", JSON, original, Harness.T0.toEpochMilli()));
      in.pipeInput("sql", (byte[]) null); // a tombstone is not dead-lettered

      List<TestRecord<byte[], byte[]>> out = dlq.readRecordsToList();
      assertEquals(1, out.size(), "only the undecodable record");
      TestRecord<byte[], byte[]> r = out.getFirst();
      assertArrayEquals("broken".getBytes(StandardCharsets.UTF_8), r.key());
      assertArrayEquals(JSON, r.value());
      assertEquals("BAD_MAGIC", header(r.headers(), DlqHeaders.REASON));
      assertEquals("lora.adapters", header(r.headers(), DlqHeaders.TOPIC));
      assertEquals("1", header(r.headers(), DlqHeaders.OFFSET));
      assertEquals("00-abc-def-01", header(r.headers(), "traceparent"));
      assertEquals("batcher-test-adapters-dlq/0_0", header(r.headers(), DlqHeaders.SOURCE_APP));
      assertTrue(header(r.headers(), DlqHeaders.EXCEPTION).contains("BAD_MAGIC"));
      assertEquals(
          1.0,
          meters.counter(BatcherMetrics.ADAPTERS_DEAD_LETTERED, "reason", "BAD_MAGIC").count());
    } finally {
      MockSchemaRegistry.dropScope(scope);
    }
  }
}
