package dev.lorastream.schemas.serde;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.registry.MockSchemaRegistry;
import java.util.ArrayList;
import java.util.List;
import org.apache.avro.Schema;
import org.apache.avro.SchemaBuilder;

/**
 * Fuzzes the request decoder, the path every {@code lora.requests} record takes in the batcher: the
 * Confluent framing ({@link WireFormat}), the writer schema looked up by id, {@link AvroBounds} and
 * Avro's resolving reader into {@link InferenceRequest}. Any bytes either decode into a request
 * that survives a round trip through the serializer (same bytes), or are refused with a permanent
 * {@link AvroDecodeException} (a DLQ reason). Anything else thrown, an {@code OutOfMemoryError}
 * under the fuzz profile's 512 MB heap included, is a finding.
 *
 * <p>The input is the record value. The registry holds, in this order: id 1 the request schema, id
 * 2 the result schema (not readable as a request), id 3 a newer request schema with an extra map of
 * arrays (skipped by the reader). Seeds and the inputs of past findings are in {@code
 * src/test/resources/dev/lorastream/schemas/serde/RequestDecoderFuzzTestInputs/decoding/}.
 */
class RequestDecoderFuzzTest {

  private static final String SCOPE = "request-decoder-fuzz";
  private static final MockSchemaRegistry REGISTRY = MockSchemaRegistry.forScope(SCOPE);

  static {
    if (REGISTRY.subjects().isEmpty()) {
      REGISTRY.register("lora.requests-value", InferenceRequest.getClassSchema()); // id 1
      REGISTRY.register("lora.replies-value", InferenceResult.getClassSchema()); // id 2
      REGISTRY.register("fuzz-newer-request-value", newerRequestSchema()); // id 3
    }
  }

  private final AvroDeserializer<InferenceRequest> decoder =
      new AvroDeserializer<>(REGISTRY, InferenceRequest.class);
  private final AvroSerializer<InferenceRequest> encoder = new AvroSerializer<>(REGISTRY);

  /**
   * The request schema plus {@code extras: map<array<long>>} (default empty), as a newer writer.
   */
  static Schema newerRequestSchema() {
    Schema current = InferenceRequest.getClassSchema();
    List<Schema.Field> fields = new ArrayList<>();
    for (Schema.Field f : current.getFields()) {
      fields.add(new Schema.Field(f, f.schema()));
    }
    fields.add(
        new Schema.Field(
            "extras",
            SchemaBuilder.map().values().array().items().longType(),
            "added by a newer producer",
            java.util.Map.of()));
    return Schema.createRecord(
        current.getName(), current.getDoc(), current.getNamespace(), false, fields);
  }

  @FuzzTest
  void decoding(byte[] value) {
    InferenceRequest request;
    try {
      request = decoder.deserialize("lora.requests", value);
    } catch (AvroDecodeException e) {
      assertTrue(e.isPermanent(), e.getMessage());
      assertTrue(e.getMessage().startsWith(e.reason().name() + ": "), e.getMessage());
      return;
    }
    assertNotNull(request);
    // bytes, not equals(): Avro's equals says NaN != NaN, and a sampling float may be NaN here
    byte[] again = encoder.serialize("lora.requests", request);
    assertArrayEquals(
        again, encoder.serialize("lora.requests", decoder.deserialize("lora.requests", again)));
  }
}
