package dev.lorastream.batcher;

import dev.lorastream.schemas.AdapterRecord;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.ReplyTopics;
import java.util.Optional;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.ReadOnlyKeyValueStore;
import org.apache.kafka.streams.state.ValueAndTimestamp;
import org.apache.kafka.streams.state.ValueTimestampHeaders;

/**
 * Applies {@link RequestValidator} to each decoded request that an earlier step ({@link
 * DedupProcessor}) let through, looking adapters up in the global adapter catalog ({@link
 * BatcherTopology#ADAPTER_STORE}, the global store over {@code lora.adapters}), reply topics up in
 * {@link ReplyTopics}, and reading the wall clock from the context (mockable in tests). A request
 * an earlier step rejected passes unchanged. Re-keys every record by requestId.
 */
final class ValidateProcessor implements Processor<byte[], Verdict, String, Verdict> {

  private final RequestValidator validator;
  private final BatcherMetrics metrics;
  private ProcessorContext<String, Verdict> context;
  private ReadOnlyKeyValueStore<String, Object> catalog;

  ValidateProcessor(BatcherConfig config, ReplyTopics replyTopics, BatcherMetrics metrics) {
    this.validator = new RequestValidator(config, replyTopics);
    this.metrics = metrics;
  }

  @Override
  public void init(ProcessorContext<String, Verdict> context) {
    this.context = context;
    this.catalog = context.getStateStore(BatcherTopology.ADAPTER_STORE);
  }

  @Override
  public void process(Record<byte[], Verdict> record) {
    Verdict verdict =
        switch (record.value()) {
          case Verdict.Rejected earlier -> earlier;
          case Verdict.Accepted ok -> validate(ok.request());
        };
    String requestId =
        switch (verdict) {
          case Verdict.Rejected r -> r.reply().getRequestId();
          case Verdict.Accepted a -> a.request().getRequestId();
        };
    context.forward(new Record<>(requestId, verdict, record.timestamp(), record.headers()));
  }

  private Verdict validate(InferenceRequest request) {
    Optional<Rejection> rejection =
        validator.validate(request, this::adapter, context.currentSystemTimeMs());
    if (rejection.isPresent()) {
      Rejection r = rejection.get();
      metrics.rejected(r.code().name());
      return new Verdict.Rejected(r.replyTopic(), r.toReply(request));
    }
    metrics.accepted();
    return new Verdict.Accepted(request);
  }

  /**
   * The catalog entry (the store holds plain values; a timestamped store, as a GlobalKTable's would
   * be, wraps them with their timestamp and, by config, headers).
   */
  private AdapterRecord adapter(String adapterId) {
    Object v = catalog.get(adapterId);
    if (v instanceof ValueAndTimestamp<?> vt) {
      v = vt.value();
    } else if (v instanceof ValueTimestampHeaders<?> vth) {
      v = vth.value();
    }
    return (AdapterRecord) v;
  }
}
