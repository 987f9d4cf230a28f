package dev.lorastream.batcher;

import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.Tracing;
import dev.lorastream.schemas.serde.AvroDecodeException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.processor.api.RecordMetadata;

/**
 * Decodes the raw bytes of {@code lora.requests} (read as {@code byte[]} so that a bad record
 * cannot stop the stream in the consumer's deserializer). A decoded value is forwarded as {@link
 * Decoded.Ok}; bytes that can never be decoded (bad magic byte, unknown schema id, truncated or
 * malformed body, a writer schema that lacks a required field, a null value) are forwarded as
 * {@link Decoded.Dead} with the original key, value and headers, plus the {@link DlqHeaders} saying
 * why and where from.
 *
 * <p>A request id must be valid UTF-8. The key is checked strictly (a {@link CharsetDecoder} that
 * reports malformed input); Avro decodes the value's strings leniently, replacing bad bytes with
 * U+FFFD, so a requestId that contains U+FFFD is refused the same way (the replacement and a
 * sender's own U+FFFD cannot be told apart after decoding, and U+FFFD has no place in an id). Both
 * go to the DLQ with reason {@link #INVALID_UTF8}.
 *
 * <p>A transient failure ({@link AvroDecodeException#isPermanent()} false: the registry is
 * unreachable) is not the record's fault, so it is rethrown instead: the stream thread fails, the
 * open transaction is aborted (exactly_once_v2), and {@link BatcherApp}'s uncaught-exception
 * handler replaces the thread ({@link ThreadFailurePolicy}: a bounded number of times), which
 * resumes from the last committed offset and retries the record. Nothing is dead-lettered or lost.
 *
 * <p>Each record is reported to a {@link RecordTracker} before it is decoded and once it and
 * everything downstream of it returned, so that a thread failure can be pinned on its record and
 * {@code /health} can tell progress from a thread failing at one record again and again.
 */
final class DecodeProcessor implements Processor<byte[], byte[], byte[], Decoded> {

  /** DLQ reason of a null value (a tombstone has no meaning on lora.requests). */
  static final String NULL_VALUE = "NULL_VALUE";

  /**
   * DLQ reason of a record whose key, or whose value's requestId, is not valid UTF-8: answering it
   * under a repaired id (U+FFFD for the bad bytes) would answer an id the sender never used, so it
   * cannot be correlated and is not answered at all.
   */
  static final String INVALID_UTF8 = "INVALID_UTF8";

  private final Deserializer<InferenceRequest> decoder;
  private final BatcherMetrics metrics;
  private final RecordTracker tracker;
  private ProcessorContext<byte[], Decoded> context;

  DecodeProcessor(
      Deserializer<InferenceRequest> decoder, BatcherMetrics metrics, RecordTracker tracker) {
    this.decoder = decoder;
    this.metrics = metrics;
    this.tracker = tracker;
  }

  @Override
  public void init(ProcessorContext<byte[], Decoded> context) {
    this.context = context;
  }

  @Override
  public void process(Record<byte[], byte[]> record) {
    RecordMetadata meta = context.recordMetadata().orElse(null);
    String topic = meta == null ? "?" : meta.topic();
    int partition = meta == null ? -1 : meta.partition();
    long offset = meta == null ? -1 : meta.offset();
    tracker.begin(topic, partition, offset);
    handle(record, topic); // a throw leaves the record in flight on this thread, for the handler
    tracker.done(topic, partition, offset);
  }

  private void handle(Record<byte[], byte[]> record, String topic) {
    if (record.value() == null) {
      deadLetter(
          record, NULL_VALUE, "null value (tombstone) on " + topic + ": a request needs a value");
      return;
    }
    if (record.key() != null && !isUtf8(record.key())) {
      deadLetter(
          record,
          INVALID_UTF8,
          "the record key is not valid UTF-8 ("
              + hex(record.key())
              + "): the request cannot be correlated with an id its sender used");
      return;
    }
    InferenceRequest request;
    try {
      request = decoder.deserialize(topic, record.headers(), record.value());
    } catch (AvroDecodeException e) {
      if (!e.isPermanent()) {
        throw e; // transient (registry unreachable): fail the thread, retry from the committed
        // offset
      }
      deadLetter(record, e.reason().name(), e.getClass().getName() + ": " + e.getMessage());
      return;
    }
    if (request.getRequestId().indexOf('\uFFFD') >= 0) {
      deadLetter(
          record,
          INVALID_UTF8,
          "the requestId in the value is not valid UTF-8 (decoded as '"
              + request.getRequestId()
              + "', U+FFFD marks the bad bytes): the request cannot be correlated with an id its"
              + " sender used");
      return;
    }
    adoptTraceHeaders(request, record.headers());
    context.forward(record.withValue(new Decoded.Ok(request)));
  }

  /**
   * A producer that put its trace context only in the record's headers ({@code traceparent}, as
   * OpenTelemetry's Kafka instrumentation does) has it copied into the request, which carries it on
   * inside the batch.
   */
  static void adoptTraceHeaders(InferenceRequest request, Headers headers) {
    if (request.getTraceContext().containsKey(Tracing.TRACEPARENT)) {
      return;
    }
    Map<String, String> fromHeaders = Tracing.fromHeaders(headers);
    if (!fromHeaders.isEmpty()) {
      request.setTraceContext(fromHeaders);
    }
  }

  /** True when {@code bytes} are well-formed UTF-8 (strict: malformed and unmappable reported). */
  static boolean isUtf8(byte[] bytes) {
    CharsetDecoder d =
        StandardCharsets.UTF_8
            .newDecoder()
            .onMalformedInput(CodingErrorAction.REPORT)
            .onUnmappableCharacter(CodingErrorAction.REPORT);
    try {
      d.decode(ByteBuffer.wrap(bytes));
      return true;
    } catch (CharacterCodingException e) {
      return false;
    }
  }

  private static String hex(byte[] bytes) {
    StringBuilder sb = new StringBuilder("hex ");
    int n = Math.min(bytes.length, 64);
    for (int i = 0; i < n; i++) {
      sb.append(String.format("%02x", bytes[i] & 0xff));
    }
    return sb.append(bytes.length > n ? "..." : "").toString();
  }

  private void deadLetter(Record<byte[], byte[]> record, String reason, String exception) {
    Headers headers = DeadLetters.headers(record.headers(), context, reason, exception);
    metrics.deadLettered(reason);
    context.forward(
        new Record<byte[], Decoded>(
            record.key(), new Decoded.Dead(record.value()), record.timestamp(), headers));
  }
}
