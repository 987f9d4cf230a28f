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
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.UUID;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
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
  private static final String T = AdapterFiles.TENSOR;
  private HostileStack stack;

  /** Builds a case's catalog record: key and value. */
  interface CatalogWire {
    byte[][] build(HostileStack stack, String id) throws Exception;
  }

  /** Damages the copy of the legal adapter in {@code f.dir}; returns the record to publish. */
  interface Damage {
    AdapterRecord apply(AdapterFiles f, String id, HostileStack stack) throws Exception;
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

  // ---- adapter files ----------------------------------------------------------------------------

  private static Arguments file(String name, Damage damage, String fragment) {
    return Arguments.of(name, damage, ErrorCode.ADAPTER_INVALID, fragment);
  }

  private static Arguments served(String name, Damage damage) {
    return Arguments.of(name, damage, null, null);
  }

  /** The record a well-behaved admin writes for the (damaged) folder. */
  private static AdapterRecord std(AdapterFiles f, String id) throws Exception {
    return HostileStack.adapterRecord(id, "acme", f.dir, 16, true);
  }

  private static AdapterRecord withSource(AdapterFiles f, String id, String uri) throws Exception {
    return AdapterRecord.newBuilder(std(f, id)).setSourceUri(uri).build();
  }

  private static Damage weights(java.util.function.Consumer<AdapterFiles> edit) {
    return (f, id, s) -> {
      edit.accept(f);
      f.write();
      return std(f, id);
    };
  }

  private static Damage rawWeights(java.util.function.Function<AdapterFiles, byte[]> bytes) {
    return (f, id, s) -> {
      f.writeWeights(bytes.apply(f));
      return std(f, id);
    };
  }

  private static Damage config(java.util.function.Function<AdapterFiles, String> json) {
    return (f, id, s) -> {
      f.writeConfig(json.apply(f));
      return std(f, id);
    };
  }

  private static Damage configEdit(
      java.util.function.Consumer<com.fasterxml.jackson.databind.node.ObjectNode> edit) {
    return config(
        f -> {
          var c = f.config();
          edit.accept(c);
          return c.toString();
        });
  }

  private static byte[] hdr(AdapterFiles f) {
    return f.header.toString().getBytes(StandardCharsets.UTF_8);
  }

  static Stream<Arguments> adapterFiles() {
    return Stream.of(safetensors(), configs(), paths()).flatMap(x -> x);
  }

  private static Stream<Arguments> safetensors() {
    return Stream.of(
        file("weights: an empty file", rawWeights(f -> new byte[0]), "is 0 bytes long: too short"),
        file("weights: 7 bytes", rawWeights(f -> new byte[7]), "is 7 bytes long: too short"),
        file(
            "header length 2^64-1",
            rawWeights(f -> AdapterFiles.framed(-1L, hdr(f), f.data)),
            "header length 18446744073709551615 is absurd"),
        file(
            "header length past the end of the file",
            rawWeights(
                f -> AdapterFiles.framed(hdr(f).length + f.data.length + 1L, hdr(f), f.data)),
            "bytes but the file has only"),
        file(
            "header not JSON",
            rawWeights(f -> AdapterFiles.framed(utf8("not json"), f.data)),
            "(safetensors header) is not valid JSON"),
        file(
            "header a JSON array",
            rawWeights(f -> AdapterFiles.framed(utf8("[1,2]"), f.data)),
            "(safetensors header) must hold a JSON object but holds ARRAY"),
        file(
            "two tensors at the same offsets",
            weights(f -> f.offsets(T, f.begin(AdapterFiles.TWIN), f.end(AdapterFiles.TWIN))),
            "overlaps '" + T + "'"),
        file(
            "offsets past the end of a whole file",
            weights(f -> f.offsets(T, f.data.length, f.data.length + f.end(T) - f.begin(T))),
            "the header's data_offsets are wrong"),
        file(
            "the data cut short",
            weights(f -> f.data = Arrays.copyOf(f.data, f.data.length - 100)),
            "the file is truncated"),
        file(
            "dtype I64",
            weights(f -> f.tensor(T).put("dtype", "I64")),
            "dtype I64; only F32, F16 and BF16"),
        file(
            "dtype F16 over F32 bytes",
            weights(f -> f.tensor(T).put("dtype", "F16")),
            "the header is inconsistent"),
        file(
            "dtype not a string",
            weights(f -> f.tensor(T).put("dtype", 7)),
            "has no string 'dtype'"),
        file(
            "a negative begin",
            weights(f -> f.offsets(T, -(f.end(T) - f.begin(T)), 0)),
            "begin must be >= 0"),
        file(
            "end before begin",
            weights(f -> f.offsets(T, f.end(T), f.begin(T))),
            "begin must be >= 0 and <= end"),
        file(
            "a negative dimension",
            weights(f -> f.tensor(T).putArray("shape").add(-16).add(256)),
            "has invalid shape [-16,256]"),
        file(
            "a shape whose size overflows",
            weights(
                f ->
                    f.tensor(T)
                        .putArray("shape")
                        .add(Integer.MAX_VALUE)
                        .add(Integer.MAX_VALUE)
                        .add(Integer.MAX_VALUE)),
            "overflows"),
        file(
            "__metadata__ a number",
            weights(f -> f.header.put("__metadata__", 5)),
            "__metadata__ must be an object"),
        file(
            "a NaN weight",
            weights(f -> f.f32(T, 5, Float.NaN)),
            "'" + T + "' (F32[16, 256]) holds NaN at index 5"),
        file(
            "a +Inf weight",
            weights(f -> f.f32(T, 0, Float.POSITIVE_INFINITY)),
            "holds +Inf at index 0"),
        file(
            "a -Inf weight",
            weights(f -> f.f32(T, 4095, Float.NEGATIVE_INFINITY)),
            "holds -Inf at index 4095"),
        file("a missing tensor", weights(f -> f.header.remove(T)), "has no tensor '" + T + "'"),
        file(
            "a tensor of another rank",
            weights(
                f -> {
                  f.tensor(T).putArray("shape").add(8).add(256);
                  f.offsets(T, f.begin(T), f.begin(T) + 8 * 256 * 4);
                }),
            "has shape [8, 256] but [16, 256] was expected for rank r=16"),
        file(
            "weights that do not match the catalog's sha256",
            (f, id, s) -> {
              AdapterRecord r = std(f, id); // sha256 of the intact copy
              f.write();
              f.f32(T, 1, 0.5f);
              f.write();
              return r;
            },
            "but the catalog says"));
  }

  private static Stream<Arguments> configs() {
    return Stream.of(
        file("config not JSON", config(f -> "{not json"), "adapter_config.json is not valid JSON"),
        file("config empty", config(f -> ""), "adapter_config.json must hold a JSON object"),
        file(
            "config a JSON array",
            config(f -> "[]"),
            "adapter_config.json must hold a JSON object but holds ARRAY"),
        file(
            "config nested 100,000 deep",
            config(f -> "[".repeat(100_000)),
            "nesting depth (1001) exceeds the maximum allowed (1000"),
        file("r = 0", configEdit(c -> c.put("r", 0)), "LoRA rank r=0 must be > 0"),
        file("r = -1", configEdit(c -> c.put("r", -1)), "LoRA rank r=-1 must be > 0"),
        file(
            "r = 10^400",
            configEdit(c -> c.put("r", new java.math.BigDecimal("1e400"))),
            "'r' must be an int"),
        file(
            "r a string",
            configEdit(c -> c.put("r", "sixteen")),
            "'r' must be an int but is \"sixteen\""),
        file(
            "r = 8 with rank-16 weights",
            configEdit(c -> c.put("r", 8)),
            "has shape [16, 256] but [8, 256] was expected for rank r=8"),
        file(
            "target_modules missing",
            configEdit(c -> c.remove("target_modules")),
            "target_modules is missing"),
        file(
            "target_modules unknown",
            configEdit(
                c ->
                    c.putArray("target_modules")
                        .add("target module 'foo_proj' does not exist in LlamaForCausalLM")),
            "foo_proj"),
        file(
            "use_dora true",
            configEdit(c -> c.put("use_dora", true)),
            "DoRA (use_dora: true) is not supported"),
        file(
            "peft_type PREFIX_TUNING",
            configEdit(c -> c.put("peft_type", "peft_type PREFIX_TUNING is not supported")),
            "PREFIX_TUNING"),
        file(
            "lora_alpha a string",
            configEdit(c -> c.put("lora_alpha", "NaN")),
            "'lora_alpha' must be a number but is \"NaN\""),
        file(
            "config a directory",
            (f, id, s) -> {
              Files.delete(f.dir.resolve(AdapterFiles.CONFIG));
              Files.createDirectory(f.dir.resolve(AdapterFiles.CONFIG));
              return std(f, id);
            },
            "is a directory, not a regular file"),
        file(
            "config a FIFO",
            (f, id, s) -> {
              mkfifo(f.dir.resolve(AdapterFiles.CONFIG));
              return std(f, id);
            },
            "is a FIFO"),
        file(
            "config missing",
            (f, id, s) -> {
              Files.delete(f.dir.resolve(AdapterFiles.CONFIG));
              return std(f, id);
            },
            "not found"));
  }

  private static Stream<Arguments> paths() {
    return Stream.of(
        file(
            "sourceUri climbs out with ..",
            (f, id, s) -> withSource(f, id, "file://" + s.scratch + "/../outside/" + id),
            "is outside the adapter roots"),
        file(
            "sourceUri /etc",
            (f, id, s) -> withSource(f, id, "file:///etc"),
            "is outside the adapter roots"),
        file(
            "sourceUri http",
            (f, id, s) -> withSource(f, id, "http://example.com/" + id),
            "is not file://"),
        file(
            "sourceUri malformed", (f, id, s) -> withSource(f, id, "file://%zz"), "bad source URI"),
        file(
            "the folder a symlink to a folder outside",
            (f, id, s) -> {
              AdapterFiles out = AdapterFiles.copy(s.outside.resolve(id));
              Path link = s.scratch.resolve(id + "-link");
              Files.createSymbolicLink(link, out.dir);
              return withSource(f, id, link.toUri().toString());
            },
            "(through a symbolic link), which is outside the allowed roots"),
        file(
            "weights a symlink to a file outside",
            (f, id, s) -> {
              AdapterFiles out = AdapterFiles.copy(s.outside.resolve(id));
              replaceWithLink(
                  f.dir.resolve(AdapterFiles.WEIGHTS), out.dir.resolve(AdapterFiles.WEIGHTS));
              return std(f, id);
            },
            "(through a symbolic link), which is outside the allowed roots"),
        file(
            "config a symlink to a file outside",
            (f, id, s) -> {
              AdapterFiles out = AdapterFiles.copy(s.outside.resolve(id));
              replaceWithLink(
                  f.dir.resolve(AdapterFiles.CONFIG), out.dir.resolve(AdapterFiles.CONFIG));
              return std(f, id);
            },
            "(through a symbolic link), which is outside the allowed roots"),
        file(
            "weights a symlink to /dev/zero",
            (f, id, s) -> {
              replaceWithLink(f.dir.resolve(AdapterFiles.WEIGHTS), Path.of("/dev/zero"));
              return std(f, id);
            },
            "(through a symbolic link), which is outside the allowed roots"),
        file(
            "weights a FIFO",
            (f, id, s) -> {
              mkfifo(f.dir.resolve(AdapterFiles.WEIGHTS));
              return std(f, id);
            },
            "is a FIFO"),
        file(
            "weights a directory",
            (f, id, s) -> {
              Files.delete(f.dir.resolve(AdapterFiles.WEIGHTS));
              Files.createDirectory(f.dir.resolve(AdapterFiles.WEIGHTS));
              return std(f, id);
            },
            "is a directory, not a regular file"),
        file(
            "weights missing",
            (f, id, s) -> {
              Files.delete(f.dir.resolve(AdapterFiles.WEIGHTS));
              return std(f, id);
            },
            "not found"),
        file(
            "the folder missing",
            (f, id, s) -> withSource(f, id, s.scratch.resolve(id + "-gone").toUri().toString()),
            "not found"),
        served(
            "an adapter under a root that is itself a symlink: served",
            (f, id, s) -> {
              AdapterFiles linked = AdapterFiles.copy(s.linkedRoot.resolve(id));
              return std(linked, id);
            }),
        served(
            "weights a symlink to another adapter inside the roots: served",
            (f, id, s) -> {
              replaceWithLink(
                  f.dir.resolve(AdapterFiles.WEIGHTS),
                  AdapterFiles.SOURCE.resolve(AdapterFiles.WEIGHTS));
              return std(f, id);
            }));
  }

  private static void replaceWithLink(Path file, Path target) throws Exception {
    Files.delete(file);
    Files.createSymbolicLink(file, target);
  }

  private static void mkfifo(Path file) throws Exception {
    Files.deleteIfExists(file);
    Process p = new ProcessBuilder("mkfifo", file.toString()).redirectErrorStream(true).start();
    Assumptions.assumeTrue(p.waitFor() == 0, "mkfifo failed: no FIFOs here");
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("adapterFiles")
  @Timeout(120)
  void aDamagedAdapterIsRefusedNamingWhatIsWrong(
      String name, Damage damage, ErrorCode code, String fragment) throws Exception {
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
