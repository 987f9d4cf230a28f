package dev.lorastream.batcher;

import dev.lorastream.schemas.DlqHeaders;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.serde.AvroDecodeException;
import java.nio.charset.StandardCharsets;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;
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
    context.forward(record.withValue(new Decoded.Ok(request)));
  }

  private void deadLetter(Record<byte[], byte[]> record, String reason, String exception) {
    Headers headers = new RecordHeaders(record.headers().toArray());
    RecordMetadata meta = context.recordMetadata().orElse(null);
    put(headers, DlqHeaders.REASON, reason);
    put(headers, DlqHeaders.TOPIC, meta == null ? "?" : meta.topic());
    put(headers, DlqHeaders.PARTITION, meta == null ? "-1" : Integer.toString(meta.partition()));
    put(headers, DlqHeaders.OFFSET, meta == null ? "-1" : Long.toString(meta.offset()));
    put(headers, DlqHeaders.EXCEPTION, exception);
    put(headers, DlqHeaders.TIMESTAMP, Long.toString(context.currentSystemTimeMs()));
    put(headers, DlqHeaders.SOURCE_APP, context.applicationId() + "/" + context.taskId());
    metrics.deadLettered(reason);
    context.forward(
        new Record<byte[], Decoded>(
            record.key(), new Decoded.Dead(record.value()), record.timestamp(), headers));
  }

  private static void put(Headers headers, String name, String value) {
    headers.remove(name); // a record dead-lettered twice keeps only the latest reason
    headers.add(name, value.getBytes(StandardCharsets.UTF_8));
  }
}
