package dev.lorastream.consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * {@link AnsweredRowsCodec}: round trips, exact encodings and sizes, the worst-case bound that
 * admission relies on, and refusal of metadata it did not write.
 */
class AnsweredRowsCodecTest {
  static BitSet rows(int... r) {
    BitSet b = new BitSet();
    for (int i : r) {
      b.set(i);
    }
    return b;
  }

  @Test
  void nothingAnsweredIsTheEmptyString() {
    assertEquals("", AnsweredRowsCodec.encode(7, List.of()));
    assertEquals(List.of(), AnsweredRowsCodec.decode(7, ""));
    assertEquals(List.of(), AnsweredRowsCodec.decode(7, null));
  }

  @Test
  void partlyAndFullyAnsweredBatchesRoundTripWithTheirOffsets() {
    List<AnsweredBatch> in =
        List.of(
            new AnsweredBatch(100, 4, rows(0, 2)),
            new AnsweredBatch(102, 3, rows(0, 1, 2)),
            new AnsweredBatch(300, 20, rows(1, 9, 19)));
    String m = AnsweredRowsCodec.encode(100, in);
    List<AnsweredBatch> out = AnsweredRowsCodec.decode(100, m);
    assertEquals(3, out.size());
    for (int i = 0; i < 3; i++) {
      assertEquals(in.get(i).offset(), out.get(i).offset());
      assertEquals(in.get(i).rows(), out.get(i).rows());
      assertEquals(in.get(i).answered(), out.get(i).answered());
    }
  }

  @Test
  void theEncodingIsVersionedVarintsInBase64() {
    // count 2; delta 0, rows 4 << 1 = 8, bitmap 0b0101; delta 2, rows 3 << 1 | full = 7
    String m =
        AnsweredRowsCodec.encode(
            100,
            List.of(
                new AnsweredBatch(100, 4, rows(0, 2)), new AnsweredBatch(102, 3, rows(0, 1, 2))));
    assertEquals("v1:AgAIBQIH", m);
  }

  @Test
  void theWorstCaseLengthIsExactForPartlyAnsweredBatchesAndBoundsEveryOtherState() {
    long[] offsets = new long[40];
    int[] sizes = new int[40];
    List<AnsweredBatch> partly = new ArrayList<>();
    for (int i = 0; i < 40; i++) {
      offsets[i] = 1_000 + 2L * i; // transaction markers between batches
      sizes[i] = 32;
      partly.add(new AnsweredBatch(offsets[i], 32, rows(0)));
    }
    // 1 (count) + 40 x (1 delta + 1 header + 4 bitmap) = 241 bytes -> 322 base64 chars + "v1:"
    assertEquals(325, AnsweredRowsCodec.worstCaseLength(1_000, offsets, sizes));
    assertEquals(325, AnsweredRowsCodec.encode(1_000, partly).length());
    List<AnsweredBatch> full = new ArrayList<>();
    for (AnsweredBatch b : partly) {
      BitSet all = new BitSet();
      all.set(0, 32);
      full.add(new AnsweredBatch(b.offset(), 32, all));
    }
    assertTrue(AnsweredRowsCodec.encode(1_000, full).length() < 325);
  }

  @Test
  void atTheBrokerDefaultOf4096BytesThe511PartlyAnsweredBatchesOf32RowsFit() {
    // the figures in docs/design.md; consecutive batches of 32 rows take 6 bytes each
    assertEquals(4094, AnsweredRowsCodec.worstCaseLength(0, consecutive(511), filled(511, 32)));
    assertEquals(4102, AnsweredRowsCodec.worstCaseLength(0, consecutive(512), filled(512, 32)));
    // 4 rows: 3 bytes each; 256 rows: 35 bytes each
    assertEquals(4094, AnsweredRowsCodec.worstCaseLength(0, consecutive(1022), filled(1022, 4)));
    assertEquals(4098, AnsweredRowsCodec.worstCaseLength(0, consecutive(1023), filled(1023, 4)));
    assertEquals(4065, AnsweredRowsCodec.worstCaseLength(0, consecutive(87), filled(87, 256)));
    assertEquals(4111, AnsweredRowsCodec.worstCaseLength(0, consecutive(88), filled(88, 256)));
  }

  @Test
  void anotherVersionIsRefusedSayingWhy() {
    var e =
        assertThrows(IllegalArgumentException.class, () -> AnsweredRowsCodec.decode(0, "v2:AgAI"));
    assertEquals(
        "offset metadata 'v2:AgAI' is not answered-rows format v1: (written by a newer or another"
            + " consumer?); refusing to guess which rows are answered",
        e.getMessage());
  }

  @Test
  void badBase64TruncationTrailingBytesAndRowsOutsideTheBatchAreRefused() {
    assertEquals(
        "offset metadata 'v1:!!' is not valid base64: Illegal base64 character 21",
        assertThrows(IllegalArgumentException.class, () -> AnsweredRowsCodec.decode(0, "v1:!!"))
            .getMessage());
    // count 2, then only one batch
    assertEquals(
        "offset metadata 'v1:AgAIBQ' ends in the middle of a batch",
        assertThrows(IllegalArgumentException.class, () -> AnsweredRowsCodec.decode(0, "v1:AgAIBQ"))
            .getMessage());
    // count 1, one batch, then a stray byte
    assertEquals(
        "offset metadata 'v1:AQAIBQA' has 1 bytes after its 1 batches",
        assertThrows(
                IllegalArgumentException.class, () -> AnsweredRowsCodec.decode(0, "v1:AQAIBQA"))
            .getMessage());
    // a batch of 4 rows with bit 5 set
    assertEquals(
        "answered row 5 is outside a batch of 4 rows",
        assertThrows(IllegalArgumentException.class, () -> AnsweredRowsCodec.decode(0, "v1:AQAIIA"))
            .getMessage());
  }

  private static long[] consecutive(int n) {
    long[] o = new long[n];
    for (int i = 0; i < n; i++) {
      o[i] = i;
    }
    return o;
  }

  private static int[] filled(int n, int v) {
    int[] a = new int[n];
    java.util.Arrays.fill(a, v);
    return a;
  }
}
