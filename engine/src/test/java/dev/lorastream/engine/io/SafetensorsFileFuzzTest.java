package dev.lorastream.engine.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.code_intelligence.jazzer.junit.DictionaryEntries;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.lorastream.engine.tensor.HostTensor;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * Fuzzes the safetensors header parser: any bytes either open into tensors that lie inside the
 * data, do not overlap and hold exactly their shape's bytes, from a header that is strict UTF-8, or
 * are refused with a {@link SafetensorsFormatException}. Anything else thrown (an overflow, an
 * index out of bounds, an {@code Error}) is a finding.
 *
 * <p>Input layout, so that seeds can be written by hand: byte 0 even = the rest is the whole file;
 * byte 0 odd = the rest is the JSON header, up to the first NUL, then the data bytes, and the
 * 8-byte length is written for it. Seeds and the inputs of past findings are in {@code
 * src/test/resources/dev/lorastream/engine/io/SafetensorsFileFuzzTestInputs/headerParsing/}.
 */
class SafetensorsFileFuzzTest {

  private static final Path FILE = Path.of("fuzz.safetensors");

  @FuzzTest
  @DictionaryEntries({
    "\"dtype\"",
    "\"shape\"",
    "\"data_offsets\"",
    "\"__metadata__\"",
    "\"F32\"",
    "\"F16\"",
    "\"BF16\"",
    "\"I64\"",
    "65536",
    "2147483647",
    "9223372036854775807",
    "-1"
  })
  void headerParsing(byte[] input) {
    byte[] file = fileOf(input);
    SafetensorsFile f;
    try {
      f = SafetensorsFile.parse(FILE, MemorySegment.ofArray(file));
    } catch (SafetensorsFormatException e) {
      assertTrue(e.getMessage().startsWith(FILE.toString()), e.getMessage());
      return;
    }
    long headerLen = ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN).getLong();
    long dataBytes = file.length - 8 - headerLen;
    assertTrue(
        isStrictUtf8(Arrays.copyOfRange(file, 8, 8 + (int) headerLen)),
        "an accepted header is strict UTF-8");
    List<long[]> ranges = new ArrayList<>();
    for (String name : f.names()) {
      HostTensor t = f.get(name);
      long bytes = Math.multiplyExact(numelExact(t.shape()), t.dtype().bytes());
      assertEquals(bytes, t.data().byteSize(), name);
      long begin = t.data().address() - 8 - headerLen; // heap segments: address = offset
      assertTrue(begin >= 0 && begin + bytes <= dataBytes, name + " lies inside the data");
      if (bytes > 0) {
        ranges.add(new long[] {begin, begin + bytes});
        t.toFloatArray(); // every element readable
      }
    }
    ranges.sort(Comparator.comparingLong(r -> r[0]));
    for (int i = 1; i < ranges.size(); i++) {
      assertTrue(ranges.get(i)[0] >= ranges.get(i - 1)[1], "no two tensors overlap");
    }
  }

  private static boolean isStrictUtf8(byte[] bytes) {
    try {
      StandardCharsets.UTF_8
          .newDecoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT)
          .decode(ByteBuffer.wrap(bytes));
      return true;
    } catch (CharacterCodingException e) {
      return false;
    }
  }

  private static long numelExact(int[] shape) {
    long n = 1;
    for (int d : shape) {
      n = Math.multiplyExact(n, d);
    }
    return n;
  }

  /** The file bytes an input stands for (see the class comment). */
  static byte[] fileOf(byte[] input) {
    if (input.length == 0 || (input[0] & 1) == 0) {
      return input.length == 0 ? input : Arrays.copyOfRange(input, 1, input.length);
    }
    int nul = 1;
    while (nul < input.length && input[nul] != 0) {
      nul++;
    }
    int headerLen = nul - 1;
    int dataStart = Math.min(nul + 1, input.length);
    int dataLen = input.length - dataStart;
    return ByteBuffer.allocate(8 + headerLen + dataLen)
        .order(ByteOrder.LITTLE_ENDIAN)
        .putLong(headerLen)
        .put(input, 1, headerLen)
        .put(input, dataStart, dataLen)
        .array();
  }
}
