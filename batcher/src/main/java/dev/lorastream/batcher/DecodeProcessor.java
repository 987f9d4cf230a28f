package dev.lorastream.batcher;

import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.serde.AvroDecodeException;
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
 * <p>A transient failure ({@link AvroDecodeException#isPermanent()} false: the registry is
 * unreachable) is not the record's fault, so it is rethrown instead: the stream thread fails, the
 * open transaction is aborted (exactly_once_v2), and {@link BatcherApp}'s uncaught-exception
 * handler replaces the thread, which resumes from the last committed offset and retries the record.
 * Nothing is dead-lettered or lost.
 */
final class DecodeProcessor implements Processor<byte[], byte[], byte[], Decoded> {

  /** DLQ reason of a null value (a tombstone has no meaning on lora.requests). */
  static final String NULL_VALUE = "NULL_VALUE";

  private final Deserializer<InferenceRequest> decoder;
  private final BatcherMetrics metrics;
  private ProcessorContext<byte[], Decoded> context;

  DecodeProcessor(Deserializer<InferenceRequest> decoder, BatcherMetrics metrics) {
    this.decoder = decoder;
    this.metrics = metrics;
  }

  @Override
  public void init(ProcessorContext<byte[], Decoded> context) {
    this.context = context;
  }

  @Override
  public void process(Record<byte[], byte[]> record) {
    String topic = context.recordMetadata().map(RecordMetadata::topic).orElse("?");
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
    Headers headers = DeadLetters.headers(record.headers(), context, reason, exception);
    metrics.deadLettered(reason);
    context.forward(
        new Record<byte[], Decoded>(
            record.key(), new Decoded.Dead(record.value()), record.timestamp(), headers));
  }
}
