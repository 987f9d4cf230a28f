package dev.lorastream.cli.hostile;

import static dev.lorastream.cli.hostile.RawRequest.countBomb;
import static dev.lorastream.cli.hostile.RawRequest.lengthBomb;
import static dev.lorastream.cli.hostile.RawRequest.nullableLengthBomb;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.lorastream.schemas.AdapterRecord;
import dev.lorastream.schemas.ErrorCode;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.Topics;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.apache.avro.Schema;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.specific.SpecificDatumWriter;
import org.junit.jupiter.params.provider.Arguments;

/**
 * The cases of {@link RequestHostileTest} that break the wire itself: the Confluent framing, writer
 * schemas, and counts and lengths the bytes cannot hold; plus the helpers every case table uses.
 */
final class RequestCases {
  static final byte[] BAD_UTF8 = {'i', 'd', (byte) 0xc3, (byte) 0x28, (byte) 0xff};
  static final long HUGE = 1_000_000_000L;

  private RequestCases() {}

  /** What a case must produce. */
  sealed interface Expect permits Answer, DeadLetter {}

  /** A reply with this code (null: answered without error), on this topic. */
  record Answer(ErrorCode code, String topic) implements Expect {}

  /** The record on lora.requests.dlq with this reason. */
  record DeadLetter(String reason) implements Expect {}

  /** Builds the bytes of a case: key and value. */
  interface Wire {
    byte[][] build(HostileStack stack, RawRequest request);
  }

  static Stream<Arguments> framingSchemasAndBombs() {
    return Stream.of(framing(), schemas(), bombs()).flatMap(s -> s);
  }

  static final Consumer<RawRequest> AS_IS = r -> {};

  static Arguments answered(String name, Consumer<RawRequest> edit, ErrorCode code) {
    return Arguments.of(name, edit, (Wire) RequestCases::normal, new Answer(code, REPLIES));
  }

  static Arguments dead(String name, Consumer<RawRequest> edit, String reason) {
    return Arguments.of(name, edit, (Wire) RequestCases::normal, new DeadLetter(reason));
  }

  static Arguments deadWire(String name, Wire wire, String reason) {
    return Arguments.of(name, AS_IS, wire, new DeadLetter(reason));
  }

  static final String REPLIES = Topics.REPLIES.name();

  static byte[][] normal(HostileStack s, RawRequest r) {
    return new byte[][] {utf8(r.requestId), r.encode(s)};
  }

  static byte[] utf8(String s) {
    return s == null ? null : s.getBytes(StandardCharsets.UTF_8);
  }

  /** Magic byte, schema id, truncation, trailing bytes, null and non-UTF-8 keys. */
  private static Stream<Arguments> framing() {
    return Stream.of(
        deadWire("empty value", (s, r) -> kv(r, new byte[0]), "TOO_SHORT"),
        deadWire("four bytes", (s, r) -> kv(r, new byte[] {0, 0, 0, 1}), "TOO_SHORT"),
        deadWire(
            "JSON text instead of Avro",
            (s, r) -> kv(r, utf8("{\"requestId\":\"" + r.requestId + "\"}")),
            "BAD_MAGIC"),
        deadWire(
            "magic byte 1",
            (s, r) -> {
              byte[] v = r.encode(s);
              v[0] = 1;
              return kv(r, v);
            },
            "BAD_MAGIC"),
        deadWire(
            "magic byte 0xff",
            (s, r) -> {
              byte[] v = r.encode(s);
              v[0] = (byte) 0xff;
              return kv(r, v);
            },
            "BAD_MAGIC"),
        deadWire(
            "unknown schema id",
            (s, r) -> kv(r, RawRequest.frame(987_654, r.body())),
            "UNKNOWN_SCHEMA_ID"),
        deadWire(
            "negative schema id",
            (s, r) -> kv(r, RawRequest.frame(-1, r.body())),
            "UNKNOWN_SCHEMA_ID"),
        deadWire(
            "schema id 0", (s, r) -> kv(r, RawRequest.frame(0, r.body())), "UNKNOWN_SCHEMA_ID"),
        deadWire(
            "header without a body",
            (s, r) -> kv(r, RawRequest.frame(s.requestSchemaId(), new byte[0])),
            "BAD_PAYLOAD"),
        deadWire(
            "body cut in half",
            (s, r) -> {
              byte[] v = r.encode(s);
              return kv(r, Arrays.copyOf(v, 5 + (v.length - 5) / 2));
            },
            "BAD_PAYLOAD"),
        deadWire(
            "body missing its last byte",
            (s, r) -> {
              byte[] v = r.encode(s);
              return kv(r, Arrays.copyOf(v, v.length - 1));
            },
            "BAD_PAYLOAD"),
        dead(
            "trailing bytes after the record",
            r -> r.trailing(new byte[] {1, 2, 3}),
            "BAD_PAYLOAD"),
        deadWire("null value (tombstone)", (s, r) -> kv(r, null), "NULL_VALUE"),
        deadWire(
            "key of invalid UTF-8", (s, r) -> new byte[][] {BAD_UTF8, r.encode(s)}, "INVALID_UTF8"),
        Arguments.of(
            "no key: refused, answered under the requestId in the value",
            AS_IS,
            (Wire) (s, r) -> new byte[][] {null, r.encode(s)},
            new Answer(ErrorCode.INVALID_PARAMS, REPLIES)),
        Arguments.of(
            "a key that is not the requestId: refused",
            AS_IS,
            (Wire) (s, r) -> new byte[][] {utf8("not-" + r.requestId), r.encode(s)},
            new Answer(ErrorCode.INVALID_PARAMS, REPLIES)));
  }

  private static byte[][] kv(RawRequest r, byte[] value) {
    return new byte[][] {utf8(r.requestId), value};
  }

  /** Writer schemas that are not InferenceRequest, or evolved versions of it. */
  private static Stream<Arguments> schemas() {
    return Stream.of(
        deadWire(
            "an AdapterRecord on lora.requests",
            (s, r) ->
                kv(
                    r,
                    RawRequest.frame(
                        s.registry.register("hostile-adapter", AdapterRecord.getClassSchema()),
                        adapterBody())),
            "INCOMPATIBLE_SCHEMA"),
        deadWire(
            "a bare string schema",
            (s, r) ->
                kv(
                    r,
                    RawRequest.frame(
                        s.registry.register("hostile-string", Schema.create(Schema.Type.STRING)),
                        new byte[] {6, 'a', 'b', 'c'})),
            "INCOMPATIBLE_SCHEMA"),
        deadWire(
            "a writer schema without createdEpochMs (required, no default)",
            (s, r) -> {
              r.raw("createdEpochMs", e -> {});
              return kv(
                  r,
                  RawRequest.frame(
                      register(s, "hostile-no-created", RequestCases::dropCreated), r.body()));
            },
            "INCOMPATIBLE_SCHEMA"),
        deadWire(
            "a writer schema whose requestId is an int",
            (s, r) -> {
              r.raw("requestId", e -> e.writeInt(42));
              return kv(
                  r,
                  RawRequest.frame(
                      register(s, "hostile-int-id", f -> retype(f, "requestId", "int")), r.body()));
            },
            "INCOMPATIBLE_SCHEMA"),
        Arguments.of(
            "a newer writer schema with an extra field: answered",
            AS_IS,
            (Wire)
                (s, r) -> {
                  r.trailing(new byte[] {4, 'h', 'i'});
                  return kv(
                      r,
                      RawRequest.frame(
                          register(s, "hostile-extra", RequestCases::addExtra), r.body()));
                },
            new Answer(null, REPLIES)),
        Arguments.of(
            "a writer schema with priority as a long (a long is not promoted to an int)",
            AS_IS,
            (Wire)
                (s, r) ->
                    kv(
                        r,
                        RawRequest.frame(
                            register(
                                s, "hostile-long-priority", f -> retype(f, "priority", "long")),
                            r.body())),
            new DeadLetter("INCOMPATIBLE_SCHEMA")));
  }

  private static byte[] adapterBody() {
    try {
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      BinaryEncoder e = EncoderFactory.get().directBinaryEncoder(out, null);
      AdapterRecord rec =
          AdapterRecord.newBuilder()
              .setAdapterId("x")
              .setSourceUri("file:///x")
              .setRank(4)
              .setBaseModel("m")
              .setCreatedEpochMs(1)
              .build();
      new SpecificDatumWriter<>(AdapterRecord.class).write(rec, e);
      return out.toByteArray();
    } catch (java.io.IOException ex) {
      throw new java.io.UncheckedIOException(ex);
    }
  }

  private static int register(HostileStack s, String subject, Consumer<ArrayNode> editFields) {
    try {
      ObjectMapper json = new ObjectMapper();
      ObjectNode schema = (ObjectNode) json.readTree(InferenceRequest.getClassSchema().toString());
      editFields.accept((ArrayNode) schema.get("fields"));
      return s.registry.register(subject, new Schema.Parser().parse(schema.toString()));
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  private static void dropCreated(ArrayNode fields) {
    for (int i = 0; i < fields.size(); i++) {
      if (fields.get(i).get("name").asText().equals("createdEpochMs")) {
        fields.remove(i);
        return;
      }
    }
  }

  private static void retype(ArrayNode fields, String name, String type) {
    for (var f : fields) {
      if (f.get("name").asText().equals(name)) {
        ((ObjectNode) f).put("type", type);
        ((ObjectNode) f).remove("default");
      }
    }
  }

  private static void addExtra(ArrayNode fields) {
    ObjectNode extra = fields.addObject();
    extra.put("name", "extra");
    extra.put("type", "string");
    extra.put("default", "");
  }

  /** Every collection and string claiming more than its bytes hold. */
  private static Stream<Arguments> bombs() {
    Stream<Arguments> counts =
        Stream.of("promptTokenIds", "sampling.stopTokenIds", "sampling.stopStrings", "traceContext")
            .flatMap(
                f ->
                    Stream.of(
                        dead(
                            f + " claims 10^9 items",
                            r -> r.raw(f, countBomb(HUGE)),
                            "BAD_PAYLOAD"),
                        dead(
                            f + " claims Long.MAX_VALUE items",
                            r -> r.raw(f, countBomb(Long.MAX_VALUE)),
                            "BAD_PAYLOAD"),
                        dead(
                            f + " claims -10^9 items in a block of 2^40 bytes",
                            r ->
                                r.raw(
                                    f,
                                    e -> {
                                      e.writeLong(-HUGE);
                                      e.writeLong(1L << 40);
                                      e.writeFixed(new byte[] {2, 4});
                                    }),
                            "BAD_PAYLOAD")));
    Stream<Arguments> lengths =
        Stream.of("requestId", "tenantId", "replyTopic")
            .flatMap(
                f ->
                    Stream.of(
                        dead(
                            f + " claims 2^31-1 bytes",
                            r -> r.raw(f, lengthBomb(Integer.MAX_VALUE)),
                            "BAD_PAYLOAD"),
                        dead(
                            f + " claims a negative length",
                            r -> r.raw(f, lengthBomb(-5)),
                            "BAD_PAYLOAD")));
    Stream<Arguments> others =
        Stream.of(
            dead(
                "adapterId claims 10^9 bytes",
                r -> r.raw("adapterId", nullableLengthBomb(HUGE)),
                "BAD_PAYLOAD"),
            dead(
                "prompt claims 10^9 bytes",
                r -> r.raw("prompt", nullableLengthBomb(HUGE)),
                "BAD_PAYLOAD"),
            dead(
                "a stop string claims 10^9 bytes",
                r ->
                    r.raw(
                        "sampling.stopStrings",
                        e -> {
                          e.writeLong(1);
                          lengthBomb(HUGE).write(e);
                        }),
                "BAD_PAYLOAD"),
            dead(
                "a traceContext key claims 10^9 bytes",
                r ->
                    r.raw(
                        "traceContext",
                        e -> {
                          e.writeLong(1);
                          lengthBomb(HUGE).write(e);
                        }),
                "BAD_PAYLOAD"),
            dead(
                "a traceContext value claims 10^9 bytes",
                r ->
                    r.raw(
                        "traceContext",
                        e -> {
                          e.writeLong(1);
                          e.writeString("k");
                          lengthBomb(HUGE).write(e);
                        }),
                "BAD_PAYLOAD"),
            dead(
                "adapterId union branch 7",
                r -> r.raw("adapterId", e -> e.writeIndex(7)),
                "BAD_PAYLOAD"),
            dead(
                "prompt union branch -1",
                r -> r.raw("prompt", e -> e.writeIndex(-1)),
                "BAD_PAYLOAD"),
            dead(
                "deadlineEpochMs as an 11-byte varint",
                r ->
                    r.raw(
                        "deadlineEpochMs",
                        e -> {
                          byte[] v = new byte[11];
                          Arrays.fill(v, (byte) 0xff);
                          e.writeFixed(v);
                        }),
                "BAD_PAYLOAD"));
    return Stream.of(counts, lengths, others).flatMap(s -> s);
  }
}
