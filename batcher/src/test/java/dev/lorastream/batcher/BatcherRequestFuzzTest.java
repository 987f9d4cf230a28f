package dev.lorastream.batcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.lorastream.schemas.DlqHeaders;
import dev.lorastream.schemas.InferenceBatch;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.SamplingParams;
import dev.lorastream.schemas.Topics;
import dev.lorastream.schemas.serde.WireFormat;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.test.TestRecord;
import org.junit.jupiter.api.AfterEach;

/**
 * Fuzzes a {@code lora.requests} record through the batcher's whole topology (decode, validate,
 * dedup, batch) on a {@link Harness}: every record ends as exactly one of a row of an {@code
 * lora.batches} batch, an error reply with a code and a message, or a DLQ record with a reason. An
 * exception escaping the topology (the stream thread would fail on it), an {@code Error}, a record
 * answered twice or not at all is a finding.
 *
 * <p>Input layout: byte 0 is the key: 0xff = null key, 0xfe = null key and null value, 0xfd = the
 * rest chooses the fields of a well-encoded request ({@link #structured}: edge values of every
 * number, tenants, adapters, reply topics, repeated ids), otherwise the length (mod 64) of the key
 * bytes that follow; the rest is the value. Schema id 1 is the request schema; adapter {@code poet}
 * belongs to tenant {@code acme}, {@code spy} to {@code globex}. Seeds and the inputs of past
 * findings are in {@code
 * src/test/resources/dev/lorastream/batcher/BatcherRequestFuzzTestInputs/oneRecord/}.
 */
class BatcherRequestFuzzTest {

  private final Harness h = new Harness(BatcherConfig.defaults());
  private final Map<String, TestOutputTopic<String, InferenceResult>> replyTopics = new HashMap<>();

  BatcherRequestFuzzTest() {
    byte[] first =
        h.requestSerializer.serialize(Topics.REQUESTS.name(), Harness.request("x", null));
    assertEquals(1, WireFormat.schemaId(first), "the seeds are written with schema id 1");
    h.adapter("poet", "acme");
    h.adapter("spy", "globex");
  }

  @AfterEach
  void stop() {
    h.close();
  }

  @FuzzTest
  void oneRecord(byte[] input) {
    byte[] key = null;
    byte[] value;
    int k = input.length == 0 ? 0 : input[0] & 0xff;
    if (k == 0xfe) {
      value = null;
    } else if (k == 0xfd) {
      InferenceRequest r = structured(ByteBuffer.wrap(input, 1, input.length - 1));
      key = r.getRequestId().getBytes(StandardCharsets.UTF_8);
      value = h.requestSerializer.serialize(Topics.REQUESTS.name(), r);
    } else if (k == 0xff) {
      value = Arrays.copyOfRange(input, 1, input.length);
    } else {
      int n = Math.min(k % 64, Math.max(0, input.length - 1));
      key = Arrays.copyOfRange(input, Math.min(1, input.length), Math.min(1, input.length) + n);
      value = Arrays.copyOfRange(input, Math.min(1, input.length) + n, input.length);
    }
    h.sendBytes(key, value); // a processor's exception escapes here
    h.advance(h.config.maxWaitMs() + 1); // flush whatever was buffered

    int outcomes = 0;
    for (TestRecord<byte[], byte[]> dead : h.dlq.readRecordsToList()) {
      Header reason = dead.headers().lastHeader(DlqHeaders.REASON);
      assertNotNull(reason, "a DLQ record says why");
      assertFalse(new String(reason.value(), StandardCharsets.UTF_8).isBlank());
      outcomes++;
    }
    for (InferenceResult reply : replies()) {
      assertNotNull(reply.getErrorCode(), "the batcher answers only errors: " + reply);
      assertNotNull(reply.getErrorMessage());
      assertFalse(reply.getErrorMessage().isBlank());
      outcomes++;
    }
    for (InferenceBatch batch : h.batches.readValuesToList()) {
      outcomes += batch.getRequests().size();
    }
    assertEquals(1, outcomes, "one record, one outcome");
  }

  private static final String[] TENANTS = {"acme", "globex", " ", ""};
  private static final String[] ADAPTERS = {null, "poet", "spy", "nope"};
  private static final String[] REPLY_TOPICS = {
    "lora.replies", "lora.replies.acme", "lora.replies.globex", "", "lora.replies.\u0000"
  };
  private static final float[] FLOATS = {
    0f,
    -0f,
    1f,
    0.5f,
    Float.NaN,
    Float.POSITIVE_INFINITY,
    Float.NEGATIVE_INFINITY,
    Float.MIN_VALUE,
    Float.MAX_VALUE,
    -1f,
    1e-45f,
    2f
  };
  private static final int[] INTS = {0, 1, -1, 16, 4096, Integer.MAX_VALUE, Integer.MIN_VALUE};
  private static final long[] LONGS = {0, 1, -1, Long.MAX_VALUE, Long.MIN_VALUE};

  /**
   * A request whose fields the bytes choose (zeros once they run out): ids from a small set, so
   * that repeats occur; every number at its edges or raw.
   */
  static InferenceRequest structured(ByteBuffer in) {
    int tokens = u8(in) % 40;
    List<Integer> tokenIds = new ArrayList<>();
    for (int i = 0; i < tokens; i++) {
      tokenIds.add(anyInt(in));
    }
    long t0 = Harness.T0.toEpochMilli();
    return InferenceRequest.newBuilder()
        .setRequestId("s-" + u8(in) % 8)
        .setTenantId(TENANTS[u8(in) % TENANTS.length])
        .setAdapterId(ADAPTERS[u8(in) % ADAPTERS.length])
        .setPromptTokenIds(tokenIds)
        .setSampling(
            SamplingParams.newBuilder()
                .setTemperature(anyFloat(in))
                .setTopK(anyInt(in))
                .setTopP(anyFloat(in))
                .setSeed(LONGS[u8(in) % LONGS.length])
                .setMaxTokens(anyInt(in))
                .setStopTokenIds(u8(in) % 2 == 0 ? List.of() : List.of(anyInt(in)))
                .build())
        .setReplyTopic(REPLY_TOPICS[u8(in) % REPLY_TOPICS.length])
        .setDeadlineEpochMs(u8(in) % 2 == 0 ? 0 : t0 + LONGS[u8(in) % LONGS.length])
        .setPriority(anyInt(in))
        .setCreatedEpochMs(t0)
        .build();
  }

  private static int u8(ByteBuffer in) {
    return in.hasRemaining() ? in.get() & 0xff : 0;
  }

  private static int anyInt(ByteBuffer in) {
    int choice = u8(in);
    return choice < INTS.length ? INTS[choice] : in.remaining() >= 4 ? in.getInt() : choice;
  }

  private static float anyFloat(ByteBuffer in) {
    int choice = u8(in);
    return choice < FLOATS.length
        ? FLOATS[choice]
        : in.remaining() >= 4 ? in.getFloat() : choice / 64f;
  }

  /** Every reply written since the last call, on any reply topic. */
  private List<InferenceResult> replies() {
    List<InferenceResult> out = new ArrayList<>();
    for (String topic : h.driver.producedTopicNames()) {
      if (topic.startsWith(Topics.REPLIES.name())) {
        out.addAll(replyTopics.computeIfAbsent(topic, h::replies).readValuesToList());
      }
    }
    return out;
  }
}
