package dev.lorastream.batcher;

import dev.lorastream.schemas.AdapterCatalogRule;
import dev.lorastream.schemas.Topics;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Named;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;

/**
 * The writer of {@code lora.adapters.dlq}: reads {@code lora.adapters} as a partitioned stream (a
 * consumer group of its own, {@code <application.id>-adapters-dlq}) and writes every record that
 * {@link AdapterCatalogRule} skips, with its original key, value and headers plus the {@link
 * dev.lorastream.schemas.DlqHeaders}, to {@code lora.adapters.dlq}.
 *
 * <pre>
 * lora.adapters (bytes) ──► AdapterCatalogRule ──┬─ skipped ──► lora.adapters.dlq
 *                                                └─ put, tombstone ──► (nothing)
 * </pre>
 *
 * <p>A topology of its own because Kafka Streams reads a topic only once per topology, and the
 * batcher's main topology reads {@code lora.adapters} as a global store (every instance needs every
 * adapter) while the DLQ must be written once per record, by one instance: here the group divides
 * the partitions and exactly_once_v2 commits each DLQ record with its input offset. The consumers
 * never write this topic; they only skip and count. A transient decoding failure (the registry
 * cannot be reached) is thrown: the stream thread is replaced and retries from the committed
 * offset, so a record is never dead-lettered for the registry's fault.
 */
public final class CatalogDeadLetterTopology {
  /** The suffix of this topology's application.id, after the batcher's own. */
  public static final String APPLICATION_ID_SUFFIX = "-adapters-dlq";

  private CatalogDeadLetterTopology() {}

  static Topology build(AdapterCatalogRule rule, BatcherMetrics metrics) {
    StreamsBuilder builder = new StreamsBuilder();
    builder.stream(
            Topics.ADAPTERS.name(),
            Consumed.with(Serdes.String(), Serdes.ByteArray()).withName("adapters-raw"))
        .process(() -> new Check(rule, metrics), Named.as("catalog-rule"))
        .to(
            Topics.ADAPTERS_DLQ.name(),
            Produced.with(Serdes.String(), Serdes.ByteArray()).withName("adapters-dlq-sink"));
    return builder.build();
  }

  /** Forwards only the skipped records, with the DLQ headers. */
  static final class Check implements Processor<String, byte[], String, byte[]> {
    private final AdapterCatalogRule rule;
    private final BatcherMetrics metrics;
    private ProcessorContext<String, byte[]> context;

    Check(AdapterCatalogRule rule, BatcherMetrics metrics) {
      this.rule = rule;
      this.metrics = metrics;
    }

    @Override
    public void init(ProcessorContext<String, byte[]> context) {
      this.context = context;
    }

    @Override
    public void process(Record<String, byte[]> record) {
      String topic = context.recordMetadata().map(m -> m.topic()).orElse(Topics.ADAPTERS.name());
      if (rule.read(topic, record.headers(), record.key(), record.value())
          instanceof AdapterCatalogRule.Skip skip) {
        metrics.adapterDeadLettered(skip.reason());
        context.forward(
            new Record<>(
                record.key(),
                record.value(),
                record.timestamp(),
                DeadLetters.headers(record.headers(), context, skip.reason(), skip.detail())));
      }
    }
  }
}
