package dev.lorastream.cli.hostile;

import dev.lorastream.ingest.PromptTokenizer;
import dev.lorastream.schemas.Topics;
import dev.lorastream.schemas.serde.WireFormat;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.EncoderFactory;

/**
 * An {@code InferenceRequest} written field by field in Avro binary, so that a case can put on the
 * wire what no well-behaved serializer writes: a NaN, a string of invalid UTF-8, a count or length
 * the bytes cannot hold. Each field has a value; {@link #raw} replaces one field's encoding by
 * arbitrary bytes. Mutable, one per case.
 */
final class RawRequest {
  /** Writes one field's encoding. */
  @FunctionalInterface
  interface Encoding {
    void write(BinaryEncoder out) throws IOException;
  }

  /** The field names of {@code InferenceRequest} and its {@code SamplingParams}, in wire order. */
  static final List<String> FIELDS =
      List.of(
          "requestId",
          "tenantId",
          "adapterId",
          "prompt",
          "promptTokenIds",
          "sampling.temperature",
          "sampling.topK",
          "sampling.topP",
          "sampling.seed",
          "sampling.maxTokens",
          "sampling.stopTokenIds",
          "sampling.stopStrings",
          "sampling.ignoreEos",
          "replyTopic",
          "deadlineEpochMs",
          "priority",
          "createdEpochMs",
          "traceContext",
          "stream");

  String requestId;
  String tenantId;
  String adapterId;
  String prompt = "The ";
  int[] promptTokenIds;
  float temperature = 0f;
  int topK = 0;
  float topP = 1f;
  long seed = 7;
  int maxTokens = 2;
  int[] stopTokenIds = {};
  List<String> stopStrings = new ArrayList<>();
  boolean ignoreEos = false;
  String replyTopic = Topics.REPLIES.name();
  long deadlineEpochMs = 0;
  int priority = 0;
  long createdEpochMs = System.currentTimeMillis();
  Map<String, String> traceContext = new LinkedHashMap<>();
  boolean stream = false;
  private final Map<String, Encoding> raw = new HashMap<>();
  private byte[] trailing = new byte[0];

  /** A request the stack answers: two greedy tokens of "The ". */
  static RawRequest good(String id, String tenant, String adapter, PromptTokenizer tok) {
    RawRequest r = new RawRequest();
    r.requestId = id;
    r.tenantId = tenant;
    r.adapterId = adapter;
    r.promptTokenIds = tok.encode("The ").stream().mapToInt(Integer::intValue).toArray();
    return r;
  }

  /** Replaces the encoding of {@code field} (one of {@link #FIELDS}). */
  RawRequest raw(String field, Encoding encoding) {
    if (!FIELDS.contains(field)) {
      throw new IllegalArgumentException("no field " + field);
    }
    raw.put(field, encoding);
    return this;
  }

  /** Bytes appended after the record. */
  RawRequest trailing(byte[] bytes) {
    trailing = bytes;
    return this;
  }

  /** The framed record: magic byte, the registered schema id, the body. */
  byte[] encode(HostileStack stack) {
    return frame(stack.requestSchemaId(), body());
  }

  static byte[] frame(int schemaId, byte[] body) {
    byte[] header = WireFormat.header(schemaId);
    byte[] out = new byte[header.length + body.length];
    System.arraycopy(header, 0, out, 0, header.length);
    System.arraycopy(body, 0, out, header.length, body.length);
    return out;
  }

  /** The Avro binary body, without framing. */
  byte[] body() {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    BinaryEncoder out = EncoderFactory.get().directBinaryEncoder(bytes, null);
    try {
      field(out, "requestId", e -> e.writeString(requestId));
      field(out, "tenantId", e -> e.writeString(tenantId));
      field(out, "adapterId", e -> nullable(e, adapterId));
      field(out, "prompt", e -> nullable(e, prompt));
      field(out, "promptTokenIds", e -> ints(e, promptTokenIds));
      field(out, "sampling.temperature", e -> e.writeFloat(temperature));
      field(out, "sampling.topK", e -> e.writeInt(topK));
      field(out, "sampling.topP", e -> e.writeFloat(topP));
      field(out, "sampling.seed", e -> e.writeLong(seed));
      field(out, "sampling.maxTokens", e -> e.writeInt(maxTokens));
      field(out, "sampling.stopTokenIds", e -> ints(e, stopTokenIds));
      field(out, "sampling.stopStrings", e -> strings(e, stopStrings));
      field(out, "sampling.ignoreEos", e -> e.writeBoolean(ignoreEos));
      field(out, "replyTopic", e -> e.writeString(replyTopic));
      field(out, "deadlineEpochMs", e -> e.writeLong(deadlineEpochMs));
      field(out, "priority", e -> e.writeInt(priority));
      field(out, "createdEpochMs", e -> e.writeLong(createdEpochMs));
      field(out, "traceContext", e -> map(e, traceContext));
      field(out, "stream", e -> e.writeBoolean(stream));
      out.writeFixed(trailing);
      out.flush();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return bytes.toByteArray();
  }

  private void field(BinaryEncoder out, String name, Encoding normal) throws IOException {
    raw.getOrDefault(name, normal).write(out);
  }

  private static void nullable(BinaryEncoder e, String s) throws IOException {
    if (s == null) {
      e.writeIndex(0);
    } else {
      e.writeIndex(1);
      e.writeString(s);
    }
  }

  private static void ints(BinaryEncoder e, int[] values) throws IOException {
    e.writeArrayStart();
    e.setItemCount(values.length);
    for (int v : values) {
      e.startItem();
      e.writeInt(v);
    }
    e.writeArrayEnd();
  }

  private static void strings(BinaryEncoder e, List<String> values) throws IOException {
    e.writeArrayStart();
    e.setItemCount(values.size());
    for (String v : values) {
      e.startItem();
      e.writeString(v);
    }
    e.writeArrayEnd();
  }

  private static void map(BinaryEncoder e, Map<String, String> values) throws IOException {
    e.writeMapStart();
    e.setItemCount(values.size());
    for (var v : values.entrySet()) {
      e.startItem();
      e.writeString(v.getKey());
      e.writeString(v.getValue());
    }
    e.writeMapEnd();
  }

  /** A block that claims {@code count} items but holds only a few bytes: a count bomb. */
  static Encoding countBomb(long count) {
    return e -> {
      e.writeLong(count);
      e.writeFixed(new byte[] {2, 4, 6});
      e.writeLong(0);
    };
  }

  /** A string or bytes value that claims {@code length} bytes but holds only a few. */
  static Encoding lengthBomb(long length) {
    return e -> {
      e.writeLong(length);
      e.writeFixed(new byte[] {'a', 'b', 'c'});
    };
  }

  /** A union (nullable string) whose string branch is a length bomb. */
  static Encoding nullableLengthBomb(long length) {
    return e -> {
      e.writeIndex(1);
      lengthBomb(length).write(e);
    };
  }

  /** A string field written as these raw bytes (no UTF-8 check). */
  static Encoding bytes(byte[] value) {
    return e -> e.writeBytes(value);
  }
}
