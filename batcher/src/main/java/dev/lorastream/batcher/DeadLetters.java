package dev.lorastream.batcher;

import dev.lorastream.schemas.DlqHeaders;
import java.nio.charset.StandardCharsets;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.RecordMetadata;

/** The headers of a dead-lettered record ({@link DlqHeaders}), for every DLQ the batcher writes. */
final class DeadLetters {
  private DeadLetters() {}

  /**
   * A copy of the original headers plus the {@link DlqHeaders}: reason, source topic, partition and
   * offset, exception text, wall-clock time and the writing task.
   */
  static Headers headers(
      Headers original, ProcessorContext<?, ?> context, String reason, String exception) {
    Headers headers = new RecordHeaders(original.toArray());
    RecordMetadata meta = context.recordMetadata().orElse(null);
    put(headers, DlqHeaders.REASON, reason);
    put(headers, DlqHeaders.TOPIC, meta == null ? "?" : meta.topic());
    put(headers, DlqHeaders.PARTITION, meta == null ? "-1" : Integer.toString(meta.partition()));
    put(headers, DlqHeaders.OFFSET, meta == null ? "-1" : Long.toString(meta.offset()));
    put(headers, DlqHeaders.EXCEPTION, exception);
    put(headers, DlqHeaders.TIMESTAMP, Long.toString(context.currentSystemTimeMs()));
    put(headers, DlqHeaders.SOURCE_APP, context.applicationId() + "/" + context.taskId());
    return headers;
  }

  private static void put(Headers headers, String name, String value) {
    headers.remove(name); // a record dead-lettered twice keeps only the latest reason
    headers.add(name, value.getBytes(StandardCharsets.UTF_8));
  }
}
