package dev.lorastream.batcher;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.schemas.DlqHeaders;
import dev.lorastream.schemas.Topics;
import dev.lorastream.schemas.serde.AvroDecodeException;
import dev.lorastream.schemas.serde.AvroSerializer;
import dev.lorastream.schemas.serde.WireFormat;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import org.apache.avro.Schema;
import org.apache.avro.SchemaBuilder;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.streams.errors.StreamsException;
import org.apache.kafka.streams.test.TestRecord;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Undecodable {@code lora.requests} records go to the DLQ with original bytes and reason headers.
 */
class DeadLetterTopologyTest {

  Harness h = new Harness(BatcherConfig.defaults());

  @AfterEach
  void stop() {
    h.close();
  }

  private static String header(Headers headers, String name) {
    var last = headers.lastHeader(name);
    return last == null ? null : new String(last.value(), StandardCharsets.UTF_8);
  }

  /** Sends bad bytes as the n-th record (offset n) and checks the DLQ record and its headers. */
  private Headers assertDeadLettered(byte[] key, byte[] value, long offset, String reason) {
    TestRecord<byte[], byte[]> out = h.dlq.readRecord();
    assertArrayEquals(key, out.key(), "original key bytes");
    assertArrayEquals(value, out.value(), "original value bytes");
    assertEquals(h.lastTimestamp(), out.timestamp());
    Headers hs = out.headers();
    assertEquals(reason, header(hs, DlqHeaders.REASON));
    assertEquals("lora.requests", header(hs, DlqHeaders.TOPIC));
    assertEquals("0", header(hs, DlqHeaders.PARTITION));
    assertEquals(Long.toString(offset), header(hs, DlqHeaders.OFFSET));
    assertEquals(
        Long.toString(Harness.T0.toEpochMilli()), header(hs, DlqHeaders.TIMESTAMP), "wall clock");
    assertEquals("batcher-test/0_0", header(hs, DlqHeaders.SOURCE_APP));
    assertTrue(
        header(hs, DlqHeaders.EXCEPTION)
            .startsWith(AvroDecodeException.class.getName() + ": " + reason),
        header(hs, DlqHeaders.EXCEPTION));
    assertEquals(1, h.counter(BatcherMetrics.REQUESTS, "outcome", "dead_lettered", "code", reason));
    return hs;
  }

  /** Checks a DLQ record of reason INVALID_UTF8 and that nothing was answered or batched. */
  private String assertInvalidUtf8(byte[] key, byte[] value) {
    TestRecord<byte[], byte[]> out = h.dlq.readRecord();
    assertArrayEquals(key, out.key(), "original key bytes");
    assertArrayEquals(value, out.value(), "original value bytes");
    assertEquals(DecodeProcessor.INVALID_UTF8, header(out.headers(), DlqHeaders.REASON));
    assertEquals(
        1, h.counter(BatcherMetrics.REQUESTS, "outcome", "dead_lettered", "code", "INVALID_UTF8"));
    assertTrue(h.dlq.isEmpty());
    assertTrue(h.replies(Topics.REPLIES.name()).isEmpty(), "no reply under a repaired id");
    h.advance(10_000);
    assertTrue(h.batches.isEmpty());
    return header(out.headers(), DlqHeaders.EXCEPTION);
  }

  @Test
  void aKeyThatIsNotUtf8GoesToDlqInsteadOfBeingAnsweredUnderARepairedId() {
    byte[] value =
        h.requestSerializer.serialize(Topics.REQUESTS.name(), Harness.request("r-ok", null));
    byte[] key = {'r', '-', (byte) 0xff, 'k'}; // 0xff never appears in UTF-8
    h.sendBytes(key, value);
    assertEquals(
        "the record key is not valid UTF-8 (hex 722dff6b): the request cannot be correlated"
            + " with an id its sender used",
        assertInvalidUtf8(key, value));
  }

  @Test
  void aRequestIdInTheValueThatIsNotUtf8GoesToDlq() {
    byte[] value =
        h.requestSerializer.serialize(Topics.REQUESTS.name(), Harness.request("r-bad", null));
    byte[] ascii = "r-bad".getBytes(StandardCharsets.UTF_8);
    int at = indexOf(value, ascii);
    assertTrue(at > 0);
    value[at + 2] = (byte) 0xc3; // a lead byte followed by 'a': malformed, same length
    byte[] key = "r-bad".getBytes(StandardCharsets.UTF_8);
    h.sendBytes(key, value);
    assertEquals(
        "the requestId in the value is not valid UTF-8 (decoded as 'r-\uFFFDad', U+FFFD marks the"
            + " bad bytes): the request cannot be correlated with an id its sender used",
        assertInvalidUtf8(key, value));
  }

  @Test
  void validMultiByteUtf8IdsAreServed() {
    h.send(Harness.request("r-\u00e9\u4e2d\ud83d\ude00", null));
    assertTrue(h.dlq.isEmpty());
    assertEquals(1, h.counter(BatcherMetrics.REQUESTS, "outcome", "accepted", "code", "none"));
  }

  private static int indexOf(byte[] hay, byte[] needle) {
    outer:
    for (int i = 0; i + needle.length <= hay.length; i++) {
      for (int j = 0; j < needle.length; j++) {
        if (hay[i + j] != needle[j]) {
          continue outer;
        }
      }
      return i;
    }
    return -1;
  }

  @Test
  void badMagicByteGoesToDlqWithHeadersAndOriginalHeadersKept() {
    byte[] key = "r-json".getBytes(StandardCharsets.UTF_8);
    byte[] value = "{\"requestId\":\"r-json\"}".getBytes(StandardCharsets.UTF_8);
    Headers original =
        new RecordHeaders().add("traceparent", "00-abc-def-01".getBytes(StandardCharsets.UTF_8));
    h.requestBytes.pipeInput(new TestRecord<>(key, value, original, Harness.T0.toEpochMilli()));
    TestRecord<byte[], byte[]> out = h.dlq.readRecord();
    assertArrayEquals(value, out.value());
    assertEquals("BAD_MAGIC", header(out.headers(), DlqHeaders.REASON));
    assertEquals("00-abc-def-01", header(out.headers(), "traceparent"));
    assertTrue(header(out.headers(), DlqHeaders.EXCEPTION).contains("looks like JSON text"));
    assertTrue(h.batches.isEmpty());
  }

  @Test
  void truncatedBodyGoesToDlq() {
    byte[] whole =
        h.requestSerializer.serialize(Topics.REQUESTS.name(), Harness.request("r1", null));
    byte[] cut = Arrays.copyOf(whole, whole.length - 6);
    h.sendBytes("r1".getBytes(StandardCharsets.UTF_8), cut);
    assertDeadLettered("r1".getBytes(StandardCharsets.UTF_8), cut, 0, "BAD_PAYLOAD");
  }

  @Test
  void billionTokenProbeGoesToDlqAndTheRequestsBehindItAreServed() {
    byte[] good =
        h.requestSerializer.serialize(Topics.REQUESTS.name(), Harness.request("r0", null));
    // issue 14's probe: 30 bytes whose promptTokenIds block claims 10^9 ints, 7 bytes behind it
    byte[] probe = {
      0,
      good[1],
      good[2],
      good[3],
      good[4], // the header of the registered InferenceRequest
      10,
      'r',
      '-',
      'o',
      'o',
      'm', // requestId "r-oom"
      8,
      'a',
      'c',
      'm',
      'e', // tenantId "acme"
      0,
      0, // adapterId, prompt: null
      (byte) 0x80,
      (byte) 0xa8,
      (byte) 0xd6,
      (byte) 0xb9,
      0x07, // block count 1_000_000_000
      2,
      2,
      2,
      2,
      2,
      2,
      2
    };
    assertEquals(30, probe.length);
    h.sendBytes("r-oom".getBytes(StandardCharsets.UTF_8), probe);
    Headers hs =
        assertDeadLettered("r-oom".getBytes(StandardCharsets.UTF_8), probe, 0, "BAD_PAYLOAD");
    h.send(Harness.request("after", null));
    assertEquals(
        AvroDecodeException.class.getName()
            + ": BAD_PAYLOAD: field promptTokenIds: array block count 1000000000 exceeds what the"
            + " 7 bytes left can hold (each item takes at least 1 byte), in the Avro body of 25"
            + " bytes of schema id "
            + ByteBuffer.wrap(good, 1, 4).getInt()
            + " (dev.lorastream.schemas.InferenceRequest) on topic lora.requests",
        header(hs, DlqHeaders.EXCEPTION));
    assertTrue(h.dlq.isEmpty());
    assertEquals(
        List.of("after"),
        h.bufferContents().stream().map(kv -> kv.value.getRequestId().toString()).toList(),
        "the request behind the probe is buffered");
    assertEquals(1, h.counter(BatcherMetrics.REQUESTS, "outcome", "accepted", "code", "none"));
    assertNull(h.tracker.inFlight(), "both records handled");
    assertEquals(Harness.T0.toEpochMilli(), h.tracker.lastProgressMs());
  }

  @Test
  void unknownSchemaIdGoesToDlq() {
    byte[] whole =
        h.requestSerializer.serialize(Topics.REQUESTS.name(), Harness.request("r1", null));
    byte[] unknown = whole.clone();
    ByteBuffer.wrap(unknown).put(WireFormat.header(9999));
    h.sendBytes(new byte[] {1, 2, 3}, unknown);
    Headers hs = assertDeadLettered(new byte[] {1, 2, 3}, unknown, 0, "UNKNOWN_SCHEMA_ID");
    assertTrue(header(hs, DlqHeaders.EXCEPTION).contains("schema id 9999"));
  }

  @Test
  void shorterThanTheHeaderGoesToDlq() {
    h.sendBytes("k".getBytes(StandardCharsets.UTF_8), new byte[] {0, 0});
    assertDeadLettered("k".getBytes(StandardCharsets.UTF_8), new byte[] {0, 0}, 0, "TOO_SHORT");
  }

  @Test
  void writerSchemaMissingARequiredFieldGoesToDlq() {
    // An "InferenceRequest" written without tenantId (required, no default): it can never be read.
    Schema noTenant =
        SchemaBuilder.record("InferenceRequest")
            .namespace("dev.lorastream.schemas")
            .fields()
            .requiredString("requestId")
            .requiredLong("createdEpochMs")
            .endRecord();
    GenericRecord rec = new GenericData.Record(noTenant);
    rec.put("requestId", "r-old");
    rec.put("createdEpochMs", 1L);
    AvroSerializer<GenericRecord> legacy = new AvroSerializer<>();
    legacy.configure(h.serdeConfig, false);
    byte[] value = legacy.serialize("legacy-requests", rec); // its own subject: ids are global
    h.sendBytes("r-old".getBytes(StandardCharsets.UTF_8), value);
    Headers hs =
        assertDeadLettered(
            "r-old".getBytes(StandardCharsets.UTF_8), value, 0, "INCOMPATIBLE_SCHEMA");
    assertTrue(
        header(hs, DlqHeaders.EXCEPTION).contains("tenantId"), header(hs, DlqHeaders.EXCEPTION));
  }

  @Test
  void nullValueGoesToDlq() {
    h.sendBytes("r-null".getBytes(StandardCharsets.UTF_8), null);
    TestRecord<byte[], byte[]> out = h.dlq.readRecord();
    assertNull(out.value());
    assertEquals(DecodeProcessor.NULL_VALUE, header(out.headers(), DlqHeaders.REASON));
  }

  @Test
  void serviceKeepsServingAfterBadRecords() {
    h.sendBytes("bad".getBytes(StandardCharsets.UTF_8), "garbage".getBytes(StandardCharsets.UTF_8));
    h.send(Harness.request("good", null));
    assertEquals(1, h.dlq.readRecordsToList().size());
    assertEquals("good", h.bufferContents().getFirst().value.getRequestId());
    assertEquals(0L, h.bufferContents().getFirst().key, "buffered under arrival sequence 0");
  }

  @Test
  void transientRegistryErrorIsRethrownNotDeadLettered() {
    h.close();
    BatcherSerdes real = BatcherSerdes.from(h.serdeConfig);
    h =
        new Harness(
            BatcherConfig.defaults(),
            real.withRequestDecoder(
                (topic, data) -> {
                  throw new AvroDecodeException(
                      AvroDecodeException.Reason.REGISTRY_UNAVAILABLE,
                      "registry returned 503",
                      null);
                }));
    StreamsException e =
        assertThrows(
            StreamsException.class,
            () ->
                h.sendBytes("r1".getBytes(StandardCharsets.UTF_8), new byte[] {0, 0, 0, 0, 1, 2}));
    Throwable cause = e;
    while (cause != null && !(cause instanceof AvroDecodeException)) {
      cause = cause.getCause();
    }
    assertInstanceOf(
        AvroDecodeException.class, cause, "the stream thread fails with the registry error");
    assertTrue(h.dlq.isEmpty(), "a transient failure is not the record's fault: not dead-lettered");
    assertEquals(
        "lora.requests-0@0",
        h.tracker.inFlight(),
        "the failure is pinned on its record, for the thread-failure policy");
    assertEquals(-1, h.tracker.lastProgressMs(), "a failed record is no progress");
    assertEquals(
        0,
        h.counter(
            BatcherMetrics.REQUESTS, "outcome", "dead_lettered", "code", "REGISTRY_UNAVAILABLE"));
  }
}
