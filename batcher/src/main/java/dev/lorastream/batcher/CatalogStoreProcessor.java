package dev.lorastream.batcher;

import dev.lorastream.schemas.AdapterCatalogRule;
import dev.lorastream.schemas.AdapterRecord;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.processor.api.RecordMetadata;
import org.apache.kafka.streams.state.KeyValueStore;

/**
 * Keeps the batcher's global adapter store ({@link BatcherTopology#ADAPTER_STORE}) from the raw
 * {@code lora.adapters} records with {@link AdapterCatalogRule}, the rule the consumers' catalogs
 * read the topic with: a put registers or replaces an adapter, a tombstone deletes it, a skipped
 * record changes nothing and is logged and counted ({@link BatcherMetrics#ADAPTERS_SKIPPED}); the
 * {@link CatalogDeadLetterTopology} writes it to {@code lora.adapters.dlq}. A decoding failure that
 * is not the record's fault (the registry cannot be reached) is thrown: the global thread stops,
 * Kafka Streams goes to ERROR and {@code /health} turns DOWN, so a supervisor restarts the batcher,
 * which reads the record again.
 */
final class CatalogStoreProcessor implements Processor<String, byte[], Void, Void> {
  private final AdapterCatalogRule rule;
  private final BatcherMetrics metrics;
  private ProcessorContext<Void, Void> context;
  private KeyValueStore<String, AdapterRecord> store;

  CatalogStoreProcessor(AdapterCatalogRule rule, BatcherMetrics metrics) {
    this.rule = rule;
    this.metrics = metrics;
  }

  @Override
  public void init(ProcessorContext<Void, Void> context) {
    this.context = context;
    this.store = context.getStateStore(BatcherTopology.ADAPTER_STORE);
  }

  @Override
  public void process(Record<String, byte[]> record) {
    RecordMetadata meta = context.recordMetadata().orElse(null);
    String topic = meta == null ? "?" : meta.topic();
    switch (rule.read(topic, record.headers(), record.key(), record.value())) {
      case AdapterCatalogRule.Put put -> store.put(put.adapterId(), put.record());
      case AdapterCatalogRule.Delete del -> store.delete(del.adapterId());
      case AdapterCatalogRule.Skip skip -> {
        metrics.adapterSkipped(skip.reason());
        System.err.println(
            "batcher adapter catalog: skipping "
                + (meta == null ? "?" : meta.topic() + "-" + meta.partition() + "@" + meta.offset())
                + " (key "
                + record.key()
                + "): "
                + skip.reason()
                + ": "
                + skip.detail());
      }
    }
  }
}
