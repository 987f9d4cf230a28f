package dev.lorastream.cli.hostile;

import static dev.lorastream.cli.hostile.RawRequest.bytes;
import static dev.lorastream.cli.hostile.RawRequest.countBomb;
import static dev.lorastream.cli.hostile.RawRequest.lengthBomb;
import static dev.lorastream.cli.hostile.RawRequest.nullableLengthBomb;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.lorastream.schemas.AdapterRecord;
import dev.lorastream.schemas.DlqHeaders;
import dev.lorastream.schemas.ErrorCode;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.Topics;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.function.Consumer;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.apache.avro.Schema;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.specific.SpecificDatumWriter;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Hostile records on {@code lora.requests}, sent as raw bytes to the running stack ({@link
 * HostileStack}): malformed framing, schema mismatches, count and length bombs in every collection
 * and string, every numeric field at its edges, ids and reply topics with odd bytes. Each case
 * expects either the exact {@link ErrorCode} of the reply or the exact reason on {@code
 * lora.requests.dlq}, and ends with a good request that must still be answered.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@ExtendWith(HostileStackExtension.class)
class RequestHostileTest {
  private static final String DLQ = Topics.REQUESTS_DLQ.name();
  private static final byte[] BAD_UTF8 = {'i', 'd', (byte) 0xc3, (byte) 0x28, (byte) 0xff};
  private static final long HUGE = 1_000_000_000L;

  private HostileStack stack;

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

  @BeforeAll
  void start(HostileStack stack) {
    this.stack = stack;
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  @Timeout(120)
  void aHostileRequestGetsItsExactAnswerAndServingGoesOn(
      String name, Consumer<RawRequest> edit, Wire wire, Expect expect) throws Exception {
    String id = "case-" + UUID.randomUUID();
    RawRequest r = RawRequest.good(id, "acme", "legal", stack.tokenizer);
    edit.accept(r);
    byte[][] kv = wire.build(stack, r);
    stack.send(Topics.REQUESTS.name(), kv[0], kv[1], id);
    switch (expect) {
      case Answer a -> {
        InferenceResult reply = stack.awaitReply(r.tenantId, r.requestId);
        assertEquals(a.code(), reply.getErrorCode(), String.valueOf(reply.getErrorMessage()));
        String topic =
            stack
                .awaitReply(
                    s ->
                        s.reply().getRequestId().equals(r.requestId)
                            && s.reply().getTenantId().equals(r.tenantId))
                .topic();
        assertEquals(a.topic(), topic, "the reply's topic");
        assertFalse(stack.deadLettered(id), "an answered request is not dead-lettered");
      }
      case DeadLetter d -> {
        HostileStack.Seen dead = stack.awaitDeadLetter(DLQ, id);
        assertEquals(d.reason(), dead.header(DlqHeaders.REASON), dead.header(DlqHeaders.EXCEPTION));
        assertEquals(Topics.REQUESTS.name(), dead.header(DlqHeaders.TOPIC));
        assertEquals(Arrays.toString(kv[1]), Arrays.toString(dead.record().value()));
      }
    }
    stack.assertServing("acme", "legal");
  }

  // ---- the cases ------------------------------------------------------------------------------

  Stream<Arguments> cases() {
    return Stream.of(framing(), schemas(), bombs(), numbers(), ids(), admission(), realSizes())
        .flatMap(s -> s);
  }

  private static final Consumer<RawRequest> AS_IS = r -> {};

  private static Arguments answered(String name, Consumer<RawRequest> edit, ErrorCode code) {
    return Arguments.of(name, edit, (Wire) RequestHostileTest::normal, new Answer(code, REPLIES));
  }

  private static Arguments dead(String name, Consumer<RawRequest> edit, String reason) {
    return Arguments.of(name, edit, (Wire) RequestHostileTest::normal, new DeadLetter(reason));
  }

  private static Arguments deadWire(String name, Wire wire, String reason) {
    return Arguments.of(name, AS_IS, wire, new DeadLetter(reason));
  }

  private static final String REPLIES = Topics.REPLIES.name();

  private static byte[][] normal(HostileStack s, RawRequest r) {
    return new byte[][] {utf8(r.requestId), r.encode(s)};
  }

  private static byte[] utf8(String s) {
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
            "no key: answered by the requestId in the value",
            AS_IS,
            (Wire) (s, r) -> new byte[][] {null, r.encode(s)},
            new Answer(null, REPLIES)));
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
                      register(s, "hostile-no-created", RequestHostileTest::dropCreated),
                      r.body()));
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
                          register(s, "hostile-extra", RequestHostileTest::addExtra), r.body()));
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

  /** Every numeric field at its edges. */
  private static Stream<Arguments> numbers() {
    ErrorCode ip = ErrorCode.INVALID_PARAMS;
    Stream<Arguments> temperature =
        Stream.of(
            answered("temperature NaN", r -> r.temperature = Float.NaN, ip),
            answered("temperature +Inf", r -> r.temperature = Float.POSITIVE_INFINITY, ip),
            answered("temperature -Inf", r -> r.temperature = Float.NEGATIVE_INFINITY, ip),
            answered("temperature -MIN_VALUE", r -> r.temperature = -Float.MIN_VALUE, ip),
            answered("temperature -MAX_VALUE", r -> r.temperature = -Float.MAX_VALUE, ip),
            answered("temperature 0", r -> r.temperature = 0f, null),
            answered("temperature -0.0", r -> r.temperature = -0f, null),
            answered("temperature subnormal MIN_VALUE", r -> r.temperature = Float.MIN_VALUE, null),
            answered("temperature MIN_NORMAL", r -> r.temperature = Float.MIN_NORMAL, null),
            answered("temperature MAX_VALUE", r -> r.temperature = Float.MAX_VALUE, null));
    Stream<Arguments> topP =
        Stream.of(
            answered("topP NaN", r -> r.topP = Float.NaN, ip),
            answered("topP +Inf", r -> r.topP = Float.POSITIVE_INFINITY, ip),
            answered("topP -Inf", r -> r.topP = Float.NEGATIVE_INFINITY, ip),
            answered("topP 0", r -> r.topP = 0f, ip),
            answered("topP -0.0", r -> r.topP = -0f, ip),
            answered("topP just above 1", r -> r.topP = Math.nextUp(1f), ip),
            answered("topP MAX_VALUE", r -> r.topP = Float.MAX_VALUE, ip),
            answered("topP subnormal MIN_VALUE", r -> r.topP = Float.MIN_VALUE, null),
            answered("topP 1", r -> r.topP = 1f, null));
    Stream<Arguments> topK =
        Stream.of(
            answered("topK MIN_VALUE", r -> r.topK = Integer.MIN_VALUE, ip),
            answered("topK -1", r -> r.topK = -1, ip),
            answered("topK 0", r -> r.topK = 0, null),
            answered("topK 1", r -> r.topK = 1, null),
            answered("topK MAX_VALUE", r -> r.topK = Integer.MAX_VALUE, null));
    Stream<Arguments> maxTokens =
        Stream.of(
            answered("maxTokens MIN_VALUE", r -> r.maxTokens = Integer.MIN_VALUE, ip),
            answered("maxTokens -1", r -> r.maxTokens = -1, ip),
            answered("maxTokens 0", r -> r.maxTokens = 0, ip),
            answered("maxTokens 1", r -> r.maxTokens = 1, null),
            answered(
                "maxTokens at the limit", r -> r.maxTokens = HostileStack.MAX_NEW_TOKENS, null),
            answered(
                "maxTokens one over the limit",
                r -> r.maxTokens = HostileStack.MAX_NEW_TOKENS + 1,
                ip),
            answered("maxTokens MAX_VALUE", r -> r.maxTokens = Integer.MAX_VALUE, ip));
    Stream<Arguments> longs =
        Stream.of(
            answered(
                "seed MIN_VALUE",
                r -> {
                  r.seed = Long.MIN_VALUE;
                  r.temperature = 1f;
                },
                null),
            answered(
                "seed MAX_VALUE",
                r -> {
                  r.seed = Long.MAX_VALUE;
                  r.temperature = 1f;
                },
                null),
            answered("priority MIN_VALUE", r -> r.priority = Integer.MIN_VALUE, null),
            answered("priority MAX_VALUE", r -> r.priority = Integer.MAX_VALUE, null),
            answered(
                "deadlineEpochMs MIN_VALUE",
                r -> r.deadlineEpochMs = Long.MIN_VALUE,
                ErrorCode.DEADLINE_EXCEEDED),
            answered(
                "deadlineEpochMs -1", r -> r.deadlineEpochMs = -1, ErrorCode.DEADLINE_EXCEEDED),
            answered("deadlineEpochMs 1", r -> r.deadlineEpochMs = 1, ErrorCode.DEADLINE_EXCEEDED),
            answered("deadlineEpochMs MAX_VALUE", r -> r.deadlineEpochMs = Long.MAX_VALUE, null),
            answered("createdEpochMs MIN_VALUE", r -> r.createdEpochMs = Long.MIN_VALUE, null),
            answered("createdEpochMs -1", r -> r.createdEpochMs = -1, null),
            answered("createdEpochMs 0", r -> r.createdEpochMs = 0, null),
            answered("createdEpochMs MAX_VALUE", r -> r.createdEpochMs = Long.MAX_VALUE, null));
    Stream<Arguments> tokens =
        Stream.of(
            answered("prompt token id -1", r -> r.promptTokenIds = new int[] {1, -1}, ip),
            answered(
                "prompt token id MIN_VALUE",
                r -> r.promptTokenIds = new int[] {Integer.MIN_VALUE},
                ip),
            answered(
                "prompt token id = vocab size", r -> r.promptTokenIds = new int[] {1, 260}, ip),
            answered(
                "prompt token id MAX_VALUE",
                r -> r.promptTokenIds = new int[] {1, Integer.MAX_VALUE},
                ip),
            answered(
                "stop token ids MIN and MAX",
                r -> r.stopTokenIds = new int[] {Integer.MIN_VALUE, -1, Integer.MAX_VALUE},
                null));
    return Stream.of(temperature, topP, topK, maxTokens, longs, tokens).flatMap(s -> s);
  }

  /** Ids, tenants, adapter ids and reply topics with odd bytes. */
  private static Stream<Arguments> ids() {
    ErrorCode ip = ErrorCode.INVALID_PARAMS;
    String longId = "x".repeat(10_000);
    return Stream.of(
        dead(
            "requestId of invalid UTF-8", r -> r.raw("requestId", bytes(BAD_UTF8)), "INVALID_UTF8"),
        dead("requestId holding U+FFFD", r -> r.requestId = r.requestId + "\uFFFD", "INVALID_UTF8"),
        answered(
            "requestId empty",
            r -> {
              r.requestId = "";
              r.tenantId = "t-" + UUID.randomUUID();
              r.adapterId = null;
            },
            ip),
        answered(
            "requestId blank",
            r -> {
              r.requestId = " \t";
              r.tenantId = "t-" + UUID.randomUUID();
              r.adapterId = null;
            },
            ip),
        answered(
            "requestId with control characters",
            r -> r.requestId = r.requestId + "\u0000\n\u001b[31m",
            null),
        answered("requestId of 10,000 characters", r -> r.requestId = r.requestId + longId, null),
        answered(
            "requestId of 4-byte UTF-8", r -> r.requestId = r.requestId + "\uD83D\uDE00", null),
        answered(
            "tenantId empty",
            r -> {
              r.tenantId = "";
              r.adapterId = null;
            },
            ip),
        answered(
            "tenantId blank",
            r -> {
              r.tenantId = "  ";
              r.adapterId = null;
            },
            ip),
        answered(
            "tenantId acme with a NUL: not acme",
            r -> r.tenantId = "acme\u0000",
            ErrorCode.ADAPTER_FORBIDDEN),
        answered("tenantId ACME: not acme", r -> r.tenantId = "ACME", ErrorCode.ADAPTER_FORBIDDEN),
        answered(
            "tenantId of 10,000 characters, base model",
            r -> {
              r.tenantId = longId;
              r.adapterId = null;
            },
            null),
        answered("adapterId empty", r -> r.adapterId = "", ErrorCode.UNKNOWN_ADAPTER),
        answered("adapterId ../legal", r -> r.adapterId = "../legal", ErrorCode.UNKNOWN_ADAPTER),
        answered(
            "adapterId legal with a NUL",
            r -> r.adapterId = "legal\u0000",
            ErrorCode.UNKNOWN_ADAPTER),
        answered("adapterId LEGAL", r -> r.adapterId = "LEGAL", ErrorCode.UNKNOWN_ADAPTER),
        answered(
            "adapterId of 10,000 characters", r -> r.adapterId = longId, ErrorCode.UNKNOWN_ADAPTER),
        answered(
            "adapterId of another tenant", r -> r.tenantId = "globex", ErrorCode.ADAPTER_FORBIDDEN),
        answered(
            "adapterId public, another tenant",
            r -> {
              r.tenantId = "globex";
              r.adapterId = "python";
            },
            null),
        answered("replyTopic empty", r -> r.replyTopic = "", ip),
        answered("replyTopic of another tenant", r -> r.replyTopic = "lora.replies.globex", ip),
        answered("replyTopic lora.requests", r -> r.replyTopic = Topics.REQUESTS.name(), ip),
        answered("replyTopic with a path", r -> r.replyTopic = "lora.replies.acme/../x", ip),
        answered("replyTopic with a NUL", r -> r.replyTopic = "lora.replies.acme\u0000", ip),
        answered("replyTopic of invalid UTF-8", r -> r.raw("replyTopic", bytes(BAD_UTF8)), ip),
        answered(
            "replyTopic allowed but not a legal topic name",
            r -> {
              r.tenantId = "bad name!";
              r.adapterId = null;
              r.replyTopic = "lora.replies.bad name!";
            },
            ip),
        answered(
            "replyTopic allowed, legal, but 300 characters",
            r -> {
              r.tenantId = "t".repeat(300);
              r.adapterId = null;
              r.replyTopic = "lora.replies." + "t".repeat(300);
            },
            ip),
        answered(
            "replyTopic allowed but missing",
            r -> {
              r.tenantId = "nobody";
              r.adapterId = null;
              r.replyTopic = "lora.replies.nobody";
            },
            ip),
        Arguments.of(
            "replyTopic the tenant's own: answered there",
            (Consumer<RawRequest>) r -> r.replyTopic = HostileStack.ACME_REPLIES,
            (Wire) RequestHostileTest::normal,
            new Answer(null, HostileStack.ACME_REPLIES)));
  }

  /** The batcher's admission limits and stop strings. */
  private static Stream<Arguments> admission() {
    int max = HostileStack.MAX_PROMPT_TOKENS;
    int context = HostileStack.MAX_CONTEXT_TOKENS;
    return Stream.of(
        answered("no prompt tokens", r -> r.promptTokenIds = new int[0], ErrorCode.INVALID_PARAMS),
        answered(
            "prompt tokens at the limit",
            r -> {
              r.promptTokenIds = ones(max);
              r.maxTokens = context - max;
            },
            null),
        answered(
            "prompt tokens one over the limit",
            r -> r.promptTokenIds = ones(max + 1),
            ErrorCode.PROMPT_TOO_LONG),
        answered(
            "prompt plus maxTokens one over the context",
            r -> {
              r.promptTokenIds = ones(max);
              r.maxTokens = context - max + 1;
            },
            ErrorCode.PROMPT_TOO_LONG),
        answered(
            "an empty stop string",
            r -> r.stopStrings = List.of("a", ""),
            ErrorCode.INVALID_PARAMS),
        answered("a stop string of a NUL", r -> r.stopStrings = List.of("\u0000"), null),
        answered("no prompt text, tokens only", r -> r.prompt = null, null));
  }

  /** Large but honest values: real bytes, within the broker's record size. */
  private static Stream<Arguments> realSizes() {
    return Stream.of(
        answered(
            "100,000 prompt tokens",
            r -> r.promptTokenIds = ones(100_000),
            ErrorCode.PROMPT_TOO_LONG),
        answered(
            "10,000 stop token ids",
            r -> r.stopTokenIds = IntStream.range(1000, 11_000).toArray(),
            null),
        answered(
            "10,000 stop strings",
            r -> r.stopStrings = IntStream.range(0, 10_000).mapToObj(i -> "stop" + i).toList(),
            null),
        answered(
            "a stop string of 100,000 characters",
            r -> r.stopStrings = List.of("s".repeat(100_000)),
            null),
        answered("a prompt text of 500,000 characters", r -> r.prompt = "p".repeat(500_000), null),
        answered(
            "10,000 trace context entries",
            r ->
                r.traceContext =
                    Map.copyOf(
                        IntStream.range(0, 10_000)
                            .boxed()
                            .collect(java.util.stream.Collectors.toMap(i -> "k" + i, i -> "v"))),
            null));
  }

  private static int[] ones(int n) {
    int[] ids = new int[n];
    Arrays.fill(ids, 70);
    return ids;
  }
}
