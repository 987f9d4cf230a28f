package dev.lorastream.cli.hostile;

import dev.lorastream.schemas.AdapterRecord;
import dev.lorastream.schemas.ErrorCode;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.params.provider.Arguments;

/**
 * The adapter folders of {@link AdapterHostileTest}: a copy of the demo's legal adapter with its
 * safetensors or config damaged, or its path or files turned into links, FIFOs and directories;
 * each with the error code and the part of the message that names what is wrong.
 */
final class AdapterFileCases {
  private static final String T = AdapterFiles.TENSOR;

  private AdapterFileCases() {}

  /** Damages the copy of the legal adapter in {@code f.dir}; returns the record to publish. */
  interface Damage {
    AdapterRecord apply(AdapterFiles f, String id, HostileStack stack) throws Exception;
  }

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
            "has more than 9223372036854775807 elements"),
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
        file(
            "config empty",
            config(f -> ""),
            "adapter_config.json is empty (or only whitespace); it must hold a JSON object"),
        file(
            "header only whitespace",
            rawWeights(f -> AdapterFiles.framed(utf8("  "), f.data)),
            "(safetensors header) is empty (or only whitespace)"),
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
            "sourceUri ftp",
            (f, id, s) -> withSource(f, id, "ftp://example.com/" + id),
            "is neither file:// nor http(s)://"),
        file(
            "sourceUri http to a port nothing listens on",
            (f, id, s) -> withSource(f, id, "http://127.0.0.1:9/" + id),
            "could not be fetched"),
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

  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }
}
