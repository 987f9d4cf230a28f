package dev.lorastream.cli.hostile;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.schemas.AdapterCatalogRule;
import dev.lorastream.schemas.AdapterRecord;
import dev.lorastream.schemas.DlqHeaders;
import dev.lorastream.schemas.ErrorCode;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.Topics;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.UUID;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Hostile adapters, against the running stack ({@link HostileStack}): catalog records on {@code
 * lora.adapters} that no reader can use (each on {@code lora.adapters.dlq} with its exact reason,
 * and an adapter registered after it still served), and adapter folders whose files are corrupt,
 * linked out of the roots or not regular files (each request for them answered {@code
 * ADAPTER_INVALID} with a message naming what is wrong). Every case ends with a good request that
 * must still be answered.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@ExtendWith(HostileStackExtension.class)
class AdapterHostileTest {
  private HostileStack stack;

  /** Builds a case's catalog record: key and value. */
  interface CatalogWire {
    byte[][] build(HostileStack stack, String id) throws Exception;
  }

  @BeforeAll
  void start(HostileStack stack) {
    this.stack = stack;
  }

  // ---- catalog records --------------------------------------------------------------------------

  static Stream<Arguments> catalogRecords() {
    return Stream.of(
        catalog("empty value", (s, id) -> kv(id, new byte[0]), "TOO_SHORT"),
        catalog(
            "JSON text", (s, id) -> kv(id, utf8("{\"adapterId\":\"" + id + "\"}")), "BAD_MAGIC"),
        catalog(
            "unknown schema id",
            (s, id) -> kv(id, RawRequest.frame(424_242, body(s, record(s, id)))),
            "UNKNOWN_SCHEMA_ID"),
        catalog(
            "truncated body",
            (s, id) -> {
              byte[] v = encode(s, record(s, id));
              return kv(id, Arrays.copyOf(v, v.length - 3));
            },
            "BAD_PAYLOAD"),
        catalog(
            "adapterId claims 10^9 bytes",
            (s, id) ->
                kv(
                    id,
                    RawRequest.frame(
                        adapterSchemaId(s),
                        new byte[] {(byte) 0x80, (byte) 0x94, (byte) 0xeb, (byte) 0xdc, 7, 'a'})),
            "BAD_PAYLOAD"),
        catalog(
            "an InferenceRequest on lora.adapters",
            (s, id) -> kv(id, RawRequest.good(id, "acme", null, s.tokenizer).encode(s)),
            "INCOMPATIBLE_SCHEMA"),
        // (no key at all: the broker refuses it, a compacted topic needs keys)
        catalog(
            "a blank key",
            (s, id) -> new byte[][] {utf8(" "), encode(s, record(s, id))},
            AdapterCatalogRule.NO_KEY),
        catalog(
            "adapterId is not the key",
            (s, id) ->
                new byte[][] {
                  utf8(id),
                  encode(s, AdapterRecord.newBuilder(record(s, id)).setAdapterId("legal").build())
                },
            AdapterCatalogRule.KEY_MISMATCH),
        catalog(
            "a blank sourceUri",
            (s, id) ->
                kv(
                    id,
                    encode(s, AdapterRecord.newBuilder(record(s, id)).setSourceUri(" ").build())),
            AdapterCatalogRule.NO_SOURCE));
  }

  private static Arguments catalog(String name, CatalogWire wire, String reason) {
    return Arguments.of(name, wire, reason);
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("catalogRecords")
  @Timeout(120)
  void aCatalogRecordNoReaderCanUseIsDeadLetteredAndLaterAdaptersAreServed(
      String name, CatalogWire wire, String reason) throws Exception {
    String id = "cat-" + UUID.randomUUID();
    byte[][] kv = wire.build(stack, id);
    stack.send(Topics.ADAPTERS.name(), kv[0], kv[1], id);
    HostileStack.Seen dead = stack.awaitDeadLetter(Topics.ADAPTERS_DLQ.name(), id);
    assertEquals(reason, dead.header(DlqHeaders.REASON), dead.header(DlqHeaders.EXCEPTION));
    assertEquals(Arrays.toString(kv[1]), Arrays.toString(dead.record().value()));
    String after = "after-" + id;
    stack.publishAdapter(
        HostileStack.adapterRecord(
            after, "acme", HostileStack.MODEL.resolve("adapters/python"), 16, true));
    InferenceResult r = requestUntilKnown(after);
    assertNull(r.getErrorCode(), "an adapter registered after it: " + r.getErrorMessage());
    stack.assertServing("acme", "legal");
  }

  private static AdapterRecord record(HostileStack s, String id) throws Exception {
    return HostileStack.adapterRecord(
        id, "acme", HostileStack.MODEL.resolve("adapters/python"), 16, true);
  }

  private static int adapterSchemaId(HostileStack s) {
    return s.registry.register(Topics.ADAPTERS.valueSubject(), AdapterRecord.getClassSchema());
  }

  private static byte[] body(HostileStack s, AdapterRecord r) {
    byte[] framed = encode(s, r);
    return Arrays.copyOfRange(framed, 5, framed.length);
  }

  private static byte[] encode(HostileStack s, AdapterRecord r) {
    return Topics.ADAPTERS.valueSerde(s.serde).serializer().serialize(Topics.ADAPTERS.name(), r);
  }

  private static byte[][] kv(String id, byte[] value) {
    return new byte[][] {utf8(id), value};
  }

  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  /**
   * Sends a request for {@code adapterId} until the batcher's catalog has it (it reads {@code
   * lora.adapters} on its own thread), then returns the reply.
   */
  private InferenceResult requestUntilKnown(String adapterId) throws Exception {
    for (int attempt = 0; ; attempt++) {
      String id = "req-" + UUID.randomUUID();
      byte[] value = RawRequest.good(id, "acme", adapterId, stack.tokenizer).encode(stack);
      stack.send(Topics.REQUESTS.name(), utf8(id), value, id);
      InferenceResult r = stack.awaitReply("acme", id);
      boolean notYet =
          r.getErrorCode() == ErrorCode.UNKNOWN_ADAPTER
              && r.getErrorMessage().contains("is not registered in");
      if (!notYet || attempt == 200) {
        return r;
      }
      Thread.sleep(50);
    }
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("dev.lorastream.cli.hostile.AdapterFileCases#adapterFiles")
  @Timeout(120)
  void aDamagedAdapterIsRefusedNamingWhatIsWrong(
      String name, AdapterFileCases.Damage damage, ErrorCode code, String fragment)
      throws Exception {
    String id = "file-" + UUID.randomUUID();
    AdapterFiles f = AdapterFiles.copy(stack.scratch.resolve(id));
    stack.publishAdapter(damage.apply(f, id, stack));
    InferenceResult r = requestUntilKnown(id);
    assertEquals(code, r.getErrorCode(), String.valueOf(r.getErrorMessage()));
    if (fragment != null) {
      assertTrue(
          r.getErrorMessage().contains(fragment),
          "the message should contain '" + fragment + "': " + r.getErrorMessage());
    }
    stack.assertServing("acme", "legal");
  }
}
