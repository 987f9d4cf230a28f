package dev.lorastream.consumer;

import dev.lorastream.schemas.InferenceResult;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;

/**
 * What one consumer knows of one {@code lora.batches} partition it owns: the batches from the
 * committed offset on (offset order), which of their rows have a committed answer, which are in the
 * transaction being committed, and so what to commit next.
 *
 * <p>The committed offset stays at the first batch not fully answered (or past the last batch
 * taken, when all are); the answered rows of the batches from there on travel in the offset
 * commit's metadata ({@link AnsweredRowsCodec}), so each finished request is released in the next
 * transaction, independent of its batch mates, and a new owner answers only the rest.
 *
 * <p>Life of a release: {@link #take} marks the finished, unreleased rows as releasing and returns
 * them; {@link #offsetToCommit} then says the offset and metadata to commit with them; {@link
 * #released} or {@link #releaseFailed} ends it. Not thread-safe: the consumer's poll thread owns
 * it.
 */
final class PartitionProgress {
  /** No offset committed yet: the first batch taken sets it. */
  private static final long UNKNOWN = -1;

  /** One batch at or after the committed offset: polled and in flight, or known answered. */
  private static final class Batch {
    final long offset;
    final int rows;
    final BitSet answered; // committed answers
    final BitSet releasing = new BitSet(); // in the transaction being committed
    InFlightBatch inflight; // null until (re)delivered to this consumer

    Batch(long offset, int rows, BitSet answered) {
      this.offset = offset;
      this.rows = rows;
      this.answered = answered;
    }

    boolean fullWithReleasing() {
      BitSet all = (BitSet) answered.clone();
      all.or(releasing);
      return all.cardinality() == rows;
    }

    /** A row answered by nobody yet whose engine result is still being computed. */
    boolean generating() {
      if (inflight == null) {
        return false;
      }
      for (int r = 0; r < rows; r++) {
        CompletableFuture<InferenceResult> f = inflight.results().get(r);
        if (f != null && !answered.get(r) && !f.isDone()) {
          return true;
        }
      }
      return false;
    }
  }

  /** A finished request to release: its batch, row and result. */
  record Row(InFlightBatch batch, int row, InferenceResult result) {}

  private final int maxMetadataBytes;
  private final TreeMap<Long, Batch> batches = new TreeMap<>();
  private long committed;
  private long polledUpTo; // the offset after the last record taken from the partition

  private PartitionProgress(int maxMetadataBytes, long committed) {
    this.maxMetadataBytes = maxMetadataBytes;
    this.committed = committed;
    this.polledUpTo = committed;
  }

  /**
   * The progress of a partition just assigned, from its committed offset and metadata (null when
   * nothing was ever committed: the first batch taken then sets the offset).
   *
   * @throws IllegalArgumentException when the metadata is not {@link AnsweredRowsCodec}'s
   */
  static PartitionProgress restore(OffsetAndMetadata committed, int maxMetadataBytes) {
    if (committed == null) {
      return new PartitionProgress(maxMetadataBytes, UNKNOWN);
    }
    PartitionProgress p = new PartitionProgress(maxMetadataBytes, committed.offset());
    for (AnsweredBatch b : AnsweredRowsCodec.decode(committed.offset(), committed.metadata())) {
      p.batches.put(b.offset(), new Batch(b.offset(), b.rows(), b.answered()));
    }
    return p;
  }

  /**
   * Whether a batch of {@code rows} at {@code offset} can be taken without the metadata ever
   * outgrowing {@code offset.metadata.max.bytes}; always true when nothing is in flight here, so a
   * partition never stalls.
   */
  boolean fits(long offset, int rows) {
    if (batches.isEmpty() || batches.containsKey(offset)) {
      return true;
    }
    int n = batches.size() + 1;
    long[] offsets = new long[n];
    int[] sizes = new int[n];
    int i = 0;
    for (Batch b : batches.headMap(offset).values()) {
      offsets[i] = b.offset;
      sizes[i++] = b.rows;
    }
    offsets[i] = offset;
    sizes[i++] = rows;
    for (Batch b : batches.tailMap(offset, false).values()) {
      offsets[i] = b.offset;
      sizes[i++] = b.rows;
    }
    long from = committed == UNKNOWN ? offsets[0] : committed;
    return AnsweredRowsCodec.worstCaseLength(from, offsets, sizes) <= maxMetadataBytes;
  }

  /**
   * Takes the batch of {@code rows} at {@code offset} (just polled) and returns its rows already
   * answered, which must not be computed again.
   *
   * @throws IllegalStateException when the committed metadata gave that offset another row count
   */
  BitSet admit(long offset, int rows) {
    if (committed == UNKNOWN) {
      committed = offset;
    }
    polledUpTo = Math.max(polledUpTo, offset + 1);
    Batch b = batches.get(offset);
    if (b == null) {
      b = new Batch(offset, rows, new BitSet(rows));
      batches.put(offset, b);
    } else if (b.rows != rows) {
      throw new IllegalStateException(
          "the committed offset metadata says batch "
              + offset
              + " has "
              + b.rows
              + " rows, but it has "
              + rows);
    }
    return (BitSet) b.answered.clone();
  }

  /** Attaches the running requests of the batch at {@code inflight.offset()} (admitted before). */
  /** The batches delivered to this consumer, in offset order. */
  List<InFlightBatch> inflight() {
    List<InFlightBatch> out = new ArrayList<>();
    for (Batch b : batches.values()) {
      if (b.inflight != null) {
        out.add(b.inflight);
      }
    }
    return out;
  }

  void attach(InFlightBatch inflight) {
    batches.get(inflight.offset()).inflight = inflight;
  }

  /** A record at {@code offset} that will never be answered (undecodable) was passed over. */
  void skipped(long offset) {
    if (committed == UNKNOWN) {
      committed = offset;
    }
    polledUpTo = Math.max(polledUpTo, offset + 1);
  }

  /** Marks every finished row not yet answered nor releasing as releasing, and returns them. */
  List<Row> take() {
    List<Row> out = new ArrayList<>();
    for (Batch b : batches.values()) {
      if (b.inflight == null) {
        continue;
      }
      for (int r = 0; r < b.rows; r++) {
        CompletableFuture<InferenceResult> f = b.inflight.results().get(r);
        if (f != null && f.isDone() && !b.answered.get(r) && !b.releasing.get(r)) {
          b.releasing.set(r);
          out.add(new Row(b.inflight, r, f.join()));
        }
      }
    }
    return out;
  }

  /**
   * The offset and metadata to commit with the releasing rows, or null when neither changes what is
   * committed.
   */
  OffsetAndMetadata offsetToCommit() {
    boolean releasing = batches.values().stream().anyMatch(b -> !b.releasing.isEmpty());
    long next = nextCommitted();
    if (!releasing && next == committed) {
      return null;
    }
    List<AnsweredBatch> answered = new ArrayList<>();
    for (Batch b : batches.tailMap(next, true).values()) {
      BitSet rows = (BitSet) b.answered.clone();
      rows.or(b.releasing);
      if (!rows.isEmpty()) {
        answered.add(new AnsweredBatch(b.offset, b.rows, rows));
      }
    }
    String metadata = AnsweredRowsCodec.encode(next, answered);
    if (metadata.length() > maxMetadataBytes) {
      throw new IllegalStateException(
          "answered-rows metadata of "
              + metadata.length()
              + " bytes exceeds offset.metadata.max.bytes="
              + maxMetadataBytes
              + " (admission should have prevented it)");
    }
    return new OffsetAndMetadata(next, metadata);
  }

  /** The releasing rows are committed: they count as answered; the offset moves on. */
  void released() {
    long next = nextCommitted();
    for (Batch b : batches.values()) {
      b.answered.or(b.releasing);
      b.releasing.clear();
    }
    committed = next;
    batches.headMap(next).clear();
  }

  /** The transaction failed: the releasing rows are finished but unreleased again. */
  void releaseFailed() {
    batches.values().forEach(b -> b.releasing.clear());
  }

  /** Batches here with a request still being computed. */
  int generating() {
    int n = 0;
    for (Batch b : batches.values()) {
      if (b.generating()) {
        n++;
      }
    }
    return n;
  }

  /** Batches held here: in flight or answered but not yet behind the committed offset. */
  int held() {
    return batches.size();
  }

  /** The committed offset this progress started from or last committed (-1: none yet). */
  long committed() {
    return committed;
  }

  /**
   * The first batch not fully answered (releasing rows counted as answered), or the offset after
   * the last record taken when every batch is; never past an offset not yet taken, since a batch
   * there may be unanswered.
   */
  private long nextCommitted() {
    for (Batch b : batches.values()) {
      if (!b.fullWithReleasing()) {
        return Math.min(b.offset, polledUpTo);
      }
    }
    return polledUpTo;
  }
}
