package dev.lorastream.consumer;

import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.BitSet;
import java.util.List;

/**
 * The offset commit's metadata: which rows of the partly answered batches of a partition, from its
 * committed offset on, already have a committed answer. It is written with {@code
 * sendOffsetsToTransaction} in the same transaction as those answers, so the two are visible
 * together or not at all, and the partition's next owner reads it to skip the answered rows.
 *
 * <p>Format {@code v1:} + base64 (no padding) of unsigned LEB128 varints: the number of batches;
 * then per batch, in offset order, the offset delta (from the committed offset for the first, from
 * the previous batch's offset for the others), {@code rows << 1 | full}, and, unless full, the
 * answered-row bitmap in {@code ceil(rows / 8)} bytes (row {@code r} is bit {@code r % 8} of byte
 * {@code r / 8}). A partition with no answered row past its committed offset has the empty string.
 *
 * <p>The broker refuses metadata longer than {@code offset.metadata.max.bytes} (4096 by default),
 * failing the whole transaction: {@link #worstCaseLength} lets the consumer stop admitting batches
 * before that can happen.
 */
final class AnsweredRowsCodec {
  static final String VERSION = "v1:";

  private AnsweredRowsCodec() {}

  /** The metadata for {@code batches} (offset order, each at or after {@code committedOffset}). */
  static String encode(long committedOffset, List<AnsweredBatch> batches) {
    if (batches.isEmpty()) {
      return "";
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    writeVarint(out, batches.size());
    long prev = committedOffset;
    for (AnsweredBatch b : batches) {
      if (b.offset() < prev || (b.offset() == prev && b != batches.getFirst())) {
        throw new IllegalArgumentException(
            "batches must be in increasing offset order from the committed offset "
                + committedOffset
                + ": "
                + b.offset()
                + " after "
                + prev);
      }
      writeVarint(out, b.offset() - prev);
      prev = b.offset();
      boolean full = b.full();
      writeVarint(out, ((long) b.rows() << 1) | (full ? 1 : 0));
      if (!full) {
        // little-endian (row r is bit r % 8 of byte r / 8), trailing zero bytes restored
        out.writeBytes(Arrays.copyOf(b.answered().toByteArray(), bitmapBytes(b.rows())));
      }
    }
    return VERSION + Base64.getEncoder().withoutPadding().encodeToString(out.toByteArray());
  }

  /**
   * The batches {@code metadata} names, with their offsets.
   *
   * @throws IllegalArgumentException for metadata that is not this format (another version, bad
   *     base64, truncated, trailing bytes, a row outside its batch), naming what is wrong
   */
  static List<AnsweredBatch> decode(long committedOffset, String metadata) {
    if (metadata == null || metadata.isEmpty()) {
      return List.of();
    }
    if (!metadata.startsWith(VERSION)) {
      throw new IllegalArgumentException(
          "offset metadata '"
              + abbreviate(metadata)
              + "' is not answered-rows format "
              + VERSION
              + " (written by a newer or another consumer?); refusing to guess which rows are answered");
    }
    byte[] in;
    try {
      in = Base64.getDecoder().decode(metadata.substring(VERSION.length()));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(
          "offset metadata '" + abbreviate(metadata) + "' is not valid base64: " + e.getMessage());
    }
    int[] pos = {0};
    long count = readVarint(in, pos, metadata);
    List<AnsweredBatch> out = new ArrayList<>();
    long offset = committedOffset;
    for (long i = 0; i < count; i++) {
      offset += readVarint(in, pos, metadata);
      long header = readVarint(in, pos, metadata);
      long rows = header >>> 1;
      if (rows < 1 || rows > Integer.MAX_VALUE) {
        throw new IllegalArgumentException(
            "offset metadata '" + abbreviate(metadata) + "' names a batch of " + rows + " rows");
      }
      BitSet answered = new BitSet((int) rows);
      if ((header & 1) == 1) {
        answered.set(0, (int) rows);
      } else {
        int n = bitmapBytes((int) rows);
        if (pos[0] + n > in.length) {
          throw truncated(metadata);
        }
        byte[] bits = new byte[n];
        System.arraycopy(in, pos[0], bits, 0, n);
        pos[0] += n;
        answered = BitSet.valueOf(bits);
      }
      out.add(new AnsweredBatch(offset, (int) rows, answered));
    }
    if (pos[0] != in.length) {
      throw new IllegalArgumentException(
          "offset metadata '"
              + abbreviate(metadata)
              + "' has "
              + (in.length - pos[0])
              + " bytes after its "
              + count
              + " batches");
    }
    return out;
  }

  /**
   * The longest metadata that {@code batches} (offset order, {@code rows} each) can ever encode to
   * while the committed offset stays at or after {@code committedOffset}: every batch partly
   * answered. Answering rows and committing only shorten it.
   *
   * @param offsets the batches' offsets, increasing
   * @param rows their row counts
   */
  static int worstCaseLength(long committedOffset, long[] offsets, int[] rows) {
    if (offsets.length == 0) {
      return 0;
    }
    long bytes = varintSize(offsets.length);
    long prev = committedOffset;
    for (int i = 0; i < offsets.length; i++) {
      bytes += varintSize(offsets[i] - prev);
      prev = offsets[i];
      bytes += varintSize((long) rows[i] << 1) + bitmapBytes(rows[i]);
    }
    return VERSION.length() + (int) ((bytes * 4 + 2) / 3); // unpadded base64
  }

  static int bitmapBytes(int rows) {
    return (rows + 7) / 8;
  }

  static int varintSize(long v) {
    int n = 1;
    while ((v >>>= 7) != 0) {
      n++;
    }
    return n;
  }

  private static void writeVarint(ByteArrayOutputStream out, long v) {
    while ((v & ~0x7FL) != 0) {
      out.write((int) ((v & 0x7F) | 0x80));
      v >>>= 7;
    }
    out.write((int) v);
  }

  private static long readVarint(byte[] in, int[] pos, String metadata) {
    long v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos[0] >= in.length) {
        throw truncated(metadata);
      }
      int b = in[pos[0]++] & 0xFF;
      v |= (long) (b & 0x7F) << shift;
      if ((b & 0x80) == 0) {
        return v;
      }
    }
    throw new IllegalArgumentException(
        "offset metadata '" + abbreviate(metadata) + "' has a varint longer than 64 bits");
  }

  private static IllegalArgumentException truncated(String metadata) {
    return new IllegalArgumentException(
        "offset metadata '" + abbreviate(metadata) + "' ends in the middle of a batch");
  }

  private static String abbreviate(String s) {
    return s.length() > 40 ? s.substring(0, 40) + "..." : s;
  }
}
