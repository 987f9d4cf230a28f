package dev.lorastream.batcher;

import dev.lorastream.schemas.AdapterRecord;
import dev.lorastream.schemas.InferenceBatch;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.Topics;
import java.util.Map;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;

/**
 * Every serde the batcher topology uses, built from one serde config (at least {@code
 * schema.registry.url}). A record so tests can swap one part, e.g. a request deserializer that
 * fails like an unreachable registry.
 *
 * @param requestDecoder decodes {@code lora.requests} values inside {@link DecodeProcessor}
 * @param buffered the buffer store's values (changelog subject {@code <changelog topic>-value})
 */
record BatcherSerdes(
    Deserializer<InferenceRequest> requestDecoder,
    Serde<InferenceRequest> buffered,
    Serde<AdapterRecord> adapters,
    Serde<InferenceResult> replies,
    Serde<InferenceBatch> batches) {

  static BatcherSerdes from(Map<String, ?> serdeConfig) {
    return new BatcherSerdes(
        Topics.REQUESTS.valueSerde(serdeConfig).deserializer(),
        Topics.REQUESTS.valueSerde(serdeConfig),
        Topics.ADAPTERS.valueSerde(serdeConfig),
        Topics.REPLIES.valueSerde(serdeConfig),
        Topics.BATCHES.valueSerde(serdeConfig));
  }

  BatcherSerdes withRequestDecoder(Deserializer<InferenceRequest> decoder) {
    return new BatcherSerdes(decoder, buffered, adapters, replies, batches);
  }
}
