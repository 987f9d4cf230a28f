package dev.lorastream.engine.io;

import com.fasterxml.jackson.databind.JsonNode;
import dev.lorastream.engine.tensor.DType;
import dev.lorastream.engine.tensor.HostTensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * One memory-mapped safetensors file: {@code [u64 LE headerLen][headerLen bytes JSON][data]}.
 *
 * <p>The whole file is mapped read-only into the caller's {@link Arena} (files over 2 GiB are
 * fine); every {@link HostTensor} it hands out is a zero-copy slice of that mapping and is valid
 * until the arena closes. The header is validated completely on {@link #open}: only F32, F16 and
 * BF16 tensors are accepted, every tensor's byte range must match its shape and dtype, lie inside
 * the file and not overlap another. Immutable and thread-safe once opened (as far as the arena
 * allows access from the calling thread).
 */
public final class SafetensorsFile {

  /** The reference implementation refuses headers above 100 MB; so do we. */
  static final long MAX_HEADER_BYTES = 100_000_000L;

  private static final String METADATA_KEY = "__metadata__";
  private static final ValueLayout.OfLong U64_LE =
      ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

  private final Path path;
  private final Map<String, HostTensor> tensors; // name -> view into the mapping, in header order
  private final Map<String, String> metadata;

  private SafetensorsFile(
      Path path, Map<String, HostTensor> tensors, Map<String, String> metadata) {
    this.path = path;
    this.tensors = Collections.unmodifiableMap(tensors);
    this.metadata = Collections.unmodifiableMap(metadata);
  }

  /**
   * Maps {@code file} into {@code arena} and validates its header.
   *
   * @throws ModelFormatException when the file is missing or unreadable
   * @throws SafetensorsFormatException when the file is malformed or holds an unsupported dtype
   */
  public static SafetensorsFile open(Path file, Arena arena) {
    return open(file, arena, FileConfinement.NONE);
  }

  /**
   * Maps {@code file} into {@code arena}, opened through {@code files} (so it must be a regular
   * file and, when {@code files} has roots, lie inside them once links are resolved), and validates
   * its header.
   *
   * @throws ModelFormatException when the file is missing, unreadable, not a regular file or
   *     outside the roots
   * @throws SafetensorsFormatException when the file is malformed or holds an unsupported dtype
   */
  public static SafetensorsFile open(Path file, Arena arena, FileConfinement files) {
    return parse(file, map(file, arena, files));
  }

  /**
   * Validates the safetensors bytes {@code all} and hands out views into them; {@code file} only
   * names them in errors.
   *
   * @throws SafetensorsFormatException when the bytes are malformed or hold an unsupported dtype
   */
  static SafetensorsFile parse(Path file, MemorySegment all) {
    long size = all.byteSize();
    if (size < 8) {
      throw new SafetensorsFormatException(
          file
              + " is "
              + size
              + " bytes long: too short for a safetensors file (8-byte header length"
              + " + JSON header); the file is truncated or not safetensors");
    }
    long headerLen = all.get(U64_LE, 0);
    if (headerLen < 2 || headerLen > MAX_HEADER_BYTES) {
      throw new SafetensorsFormatException(
          file
              + ": header length "
              + Long.toUnsignedString(headerLen)
              + " is absurd (expected 2.."
              + MAX_HEADER_BYTES
              + "); the file is not safetensors or is corrupt");
    }
    if (8 + headerLen > size) {
      throw new SafetensorsFormatException(
          file
              + ": header claims "
              + headerLen
              + " bytes but the file has only "
              + (size - 8)
              + " after the length field; the file is truncated");
    }
    byte[] headerBytes = all.asSlice(8, headerLen).toArray(ValueLayout.JAVA_BYTE);
    JsonNode header;
    try {
      header = JsonFiles.parseObject(headerBytes, file + " (safetensors header)");
    } catch (ModelFormatException e) {
      throw new SafetensorsFormatException(e.getMessage(), e);
    }
    MemorySegment data = all.asSlice(8 + headerLen); // offsets in the header are relative to here
    Map<String, String> metadata = parseMetadata(file, header.get(METADATA_KEY));
    Map<String, Entry> entries = new LinkedHashMap<>();
    List<long[]> ranges = new ArrayList<>(); // [begin, end, index into names]
    List<String> names = new ArrayList<>();
    for (var entry : header.properties()) {
      String name = entry.getKey();
      if (name.equals(METADATA_KEY)) {
        continue;
      }
      Entry e = parseEntry(file, name, entry.getValue());
      entries.put(name, e);
      ranges.add(new long[] {e.begin, e.end, names.size()});
      names.add(name);
    }
    checkWithinData(file, entries, data.byteSize());
    checkNoOverlap(file, ranges, names);
    Map<String, HostTensor> tensors = new LinkedHashMap<>();
    entries.forEach(
        (name, e) ->
            tensors.put(
                name,
                new HostTensor(name, e.dtype, e.shape, data.asSlice(e.begin, e.end - e.begin))));
    return new SafetensorsFile(file, tensors, metadata);
  }

  private static MemorySegment map(Path file, Arena arena, FileConfinement files) {
    try (FileChannel ch = files.open(file, "expected a safetensors file at that path")) {
      return ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
    } catch (IOException e) {
      throw new ModelFormatException("cannot map " + file + ": " + e, e);
    }
  }

  private record Entry(DType dtype, int[] shape, long begin, long end) {}

  private static Entry parseEntry(Path file, String name, JsonNode node) {
    String where = file + ": tensor '" + name + "'";
    if (!node.isObject()) {
      throw new SafetensorsFormatException(where + " must be a JSON object but is " + node);
    }
    JsonNode dt = node.get("dtype");
    if (dt == null || !dt.isTextual()) {
      throw new SafetensorsFormatException(where + " has no string 'dtype' (got " + dt + ")");
    }
    DType dtype =
        switch (dt.textValue()) {
          case "F32" -> DType.F32;
          case "F16" -> DType.F16;
          case "BF16" -> DType.BF16;
          default ->
              throw new SafetensorsFormatException(
                  where
                      + " has dtype "
                      + dt.textValue()
                      + "; only F32, F16 and BF16 are supported:"
                      + " convert the checkpoint (e.g. save it with torch_dtype=bfloat16)");
        };
    int[] shape = parseShape(where, node.get("shape"));
    JsonNode offs = node.get("data_offsets");
    if (offs == null
        || !offs.isArray()
        || offs.size() != 2
        || !offs.get(0).canConvertToLong()
        || !offs.get(1).canConvertToLong()
        || !offs.get(0).isIntegralNumber()
        || !offs.get(1).isIntegralNumber()) {
      throw new SafetensorsFormatException(
          where + " needs 'data_offsets' [begin, end] but has " + offs);
    }
    long begin = offs.get(0).longValue();
    long end = offs.get(1).longValue();
    long expected;
    try {
      expected = Math.multiplyExact(HostTensor.numel(shape), (long) dtype.bytes());
    } catch (ArithmeticException ex) {
      throw new SafetensorsFormatException(
          where + " shape " + Arrays.toString(shape) + " overflows");
    }
    if (begin < 0 || end < begin) {
      throw new SafetensorsFormatException(
          where + " has data_offsets [" + begin + ", " + end + "]: begin must be >= 0 and <= end");
    }
    if (end - begin != expected) {
      throw new SafetensorsFormatException(
          where
              + " is "
              + dtype
              + Arrays.toString(shape)
              + " = "
              + expected
              + " bytes but data_offsets ["
              + begin
              + ", "
              + end
              + "] span "
              + (end - begin)
              + " bytes; the header is inconsistent");
    }
    return new Entry(dtype, shape, begin, end);
  }

  /**
   * Every tensor ends within the data. When one does not, the message tells the two causes apart:
   * if the tensors' byte sizes add up to more than the data holds, the file was cut short; if the
   * data holds them all, the header's offsets point past them and the header is what is wrong.
   */
  private static void checkWithinData(Path file, Map<String, Entry> entries, long dataBytes) {
    long needed = 0;
    for (Entry e : entries.values()) {
      long span = e.end - e.begin; // >= 0, checked by parseEntry
      needed = needed > Long.MAX_VALUE - span ? Long.MAX_VALUE : needed + span; // saturating
    }
    for (var en : entries.entrySet()) {
      Entry e = en.getValue();
      if (e.end > dataBytes) {
        String where = file + ": tensor '" + en.getKey() + "'";
        throw new SafetensorsFormatException(
            needed > dataBytes
                ? where
                    + " ends at data offset "
                    + e.end
                    + " but the file holds only "
                    + dataBytes
                    + " data bytes, fewer than the "
                    + needed
                    + " its tensors need; the file is truncated (re-download or re-save it)"
                : where
                    + " has data_offsets ["
                    + e.begin
                    + ", "
                    + e.end
                    + "] beyond the end of the data ("
                    + dataBytes
                    + " bytes), although the data is large enough for all "
                    + needed
                    + " bytes its tensors need; the header's data_offsets are wrong (the file"
                    + " is corrupt, not truncated)");
      }
    }
  }

  private static int[] parseShape(String where, JsonNode node) {
    if (node == null || !node.isArray()) {
      throw new SafetensorsFormatException(where + " needs an array 'shape' but has " + node);
    }
    int[] shape = new int[node.size()];
    for (int i = 0; i < shape.length; i++) {
      JsonNode d = node.get(i);
      if (!d.isIntegralNumber() || !d.canConvertToInt() || d.intValue() < 0) {
        throw new SafetensorsFormatException(
            where + " has invalid shape " + node + " (dimension " + i + ")");
      }
      shape[i] = d.intValue();
    }
    if (Arrays.stream(shape).noneMatch(d -> d == 0)) {
      try { // unchecked, [65536, 65536, 65536, 65536] wraps to 0 elements that fit in 0 bytes
        long numel = 1;
        for (int d : shape) {
          numel = Math.multiplyExact(numel, d);
        }
      } catch (ArithmeticException e) {
        throw new SafetensorsFormatException(
            where + " shape " + node + " has more than " + Long.MAX_VALUE + " elements");
      }
    }
    return shape;
  }

  private static Map<String, String> parseMetadata(Path file, JsonNode node) {
    Map<String, String> out = new TreeMap<>();
    if (node == null || node.isNull()) {
      return out;
    }
    if (!node.isObject()) {
      throw new SafetensorsFormatException(
          file + ": __metadata__ must be an object but is " + node);
    }
    for (var e : node.properties()) {
      if (!e.getValue().isTextual()) {
        throw new SafetensorsFormatException(
            file
                + ": __metadata__ value for '"
                + e.getKey()
                + "' must be a string but is "
                + e.getValue());
      }
      out.put(e.getKey(), e.getValue().textValue());
    }
    return out;
  }

  private static void checkNoOverlap(Path file, List<long[]> ranges, List<String> names) {
    ranges.sort(Comparator.comparingLong((long[] r) -> r[0]).thenComparingLong(r -> r[1]));
    // empty tensors hold no bytes: they may share any offset, and each non-empty range is checked
    // against the previous non-empty one (an empty one between them must not hide an overlap)
    long[] prev = null;
    for (long[] cur : ranges) {
      if (cur[1] == cur[0]) {
        continue;
      }
      if (prev != null && cur[0] < prev[1]) {
        throw new SafetensorsFormatException(
            file
                + ": tensor '"
                + names.get((int) cur[2])
                + "' ["
                + cur[0]
                + ", "
                + cur[1]
                + ") overlaps '"
                + names.get((int) prev[2])
                + "' ["
                + prev[0]
                + ", "
                + prev[1]
                + "); the header is corrupt");
      }
      prev = cur;
    }
  }

  public Path path() {
    return path;
  }

  /** Tensor names in header order. */
  public Set<String> names() {
    return tensors.keySet();
  }

  public boolean contains(String name) {
    return tensors.containsKey(name);
  }

  /**
   * The named tensor, a view into the mapping.
   *
   * @throws MissingTensorException naming this file and the tensor
   */
  public HostTensor get(String name) {
    HostTensor t = tensors.get(name);
    if (t == null) {
      throw new MissingTensorException(
          path
              + " has no tensor '"
              + name
              + "' (it holds "
              + tensors.size()
              + " tensors"
              + (tensors.isEmpty() ? "" : ", e.g. '" + tensors.keySet().iterator().next() + "'")
              + ")");
    }
    return t;
  }

  /** The {@code __metadata__} string map (empty when absent). */
  public Map<String, String> metadata() {
    return metadata;
  }
}
