package dev.lorastream.cli.hostile;

import static dev.lorastream.cli.hostile.RawRequest.bytes;
import static dev.lorastream.cli.hostile.RequestCases.BAD_UTF8;
import static dev.lorastream.cli.hostile.RequestCases.answered;
import static dev.lorastream.cli.hostile.RequestCases.dead;

import dev.lorastream.schemas.ErrorCode;
import dev.lorastream.schemas.Topics;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.function.Consumer;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.params.provider.Arguments;

/**
 * The cases of {@link RequestHostileTest} that decode but carry hostile values: every numeric field
 * at its edges, odd ids, tenants, adapter ids and reply topics, the batcher's limits, and large but
 * honest sizes.
 */
final class RequestFieldCases {
  private RequestFieldCases() {}

  static Stream<Arguments> fieldValues() {
    return Stream.of(numbers(), ids(), admission(), realSizes()).flatMap(s -> s);
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
            // the wire's range is [-10, 10] (schemas.Priorities)
            answered("priority MIN_VALUE", r -> r.priority = Integer.MIN_VALUE, ip),
            answered("priority -10", r -> r.priority = -10, null),
            answered("priority 11", r -> r.priority = 11, ip),
            answered("priority MAX_VALUE", r -> r.priority = Integer.MAX_VALUE, ip),
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
        answered(
            "adapterId ../legal: a just-in-time name of tenant '..'",
            r -> r.adapterId = "../legal",
            ErrorCode.ADAPTER_FORBIDDEN),
        answered(
            "adapterId acme/../legal: not one folder name",
            r -> r.adapterId = "acme/../legal",
            ErrorCode.INVALID_PARAMS),
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
            (RequestCases.Wire) RequestCases::normal,
            new RequestCases.Answer(null, HostileStack.ACME_REPLIES)));
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
