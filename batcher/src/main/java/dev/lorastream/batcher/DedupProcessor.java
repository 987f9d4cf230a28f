package dev.lorastream.batcher;

import dev.lorastream.schemas.ErrorCode;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.ReplyTopics;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.processor.Cancellable;
import org.apache.kafka.streams.processor.PunctuationType;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;

/**
 * Answers a (tenantId, requestId) once within {@code batcher.dedup.window.ms}: the first request
 * read with that pair goes on to validation ({@link Verdict.Accepted}, "not a duplicate"); a repeat
 * read less than the window after the first becomes a {@link Verdict.Rejected} with {@link
 * ErrorCode#DUPLICATE_REQUEST}, whose message names the tenant, the id and when the batcher read
 * the first. It runs before {@link ValidateProcessor}, so a repeat of a rejected request is refused
 * too, and a repeat is never batched. The reply goes where validation would send an error reply
 * ({@link RequestValidator#errorReplyTopic}). A request an earlier step refused ({@link
 * TenantBindProcessor}, topics mode) passes unchanged and is not remembered.
 *
 * <p>Identity is the pair: the same requestId from two tenants is two requests. A request with a
 * blank tenantId or requestId has no identity; it passes on, and validation refuses it.
 *
 * <p>State: {@link BatcherTopology#DEDUP_STORE}, a persistent store, changelogged and committed
 * with the reply or batch under exactly_once_v2, so a restart or rebalance keeps the window. It
 * holds two kinds of entries, told apart by their first byte:
 *
 * <ul>
 *   <li>{@code 0x00 ‖ int32 length of tenant ‖ tenant ‖ requestId} (UTF-8, length-prefixed so that
 *       no two pairs share a key) → wall-clock epoch ms when the batcher read the first request;
 *   <li>{@code 0x01 ‖ int64 that time, big-endian ‖ the pair as above} → the same time: an index in
 *       arrival order, so that purging reads only expired entries.
 * </ul>
 *
 * <p>A wall-clock punctuator purges, every {@link #PURGE_INTERVAL}, at most {@link
 * #PURGE_MAX_PER_RUN} pairs read {@code window} or longer ago (bounded work per run; a backlog is
 * worked off over the next runs). The lookup checks the age itself, so an expired pair not yet
 * purged is not a duplicate.
 *
 * <p>Requests are keyed by requestId, so both copies of a pair land on the same partition and task.
 * A record whose key is not its requestId (null, or another string) would defeat this check, so it
 * is refused with INVALID_PARAMS before the lookup (the value's requestId still correlates the
 * reply). A custom partitioner that spreads one key over several partitions still defeats it.
 */
final class DedupProcessor implements Processor<byte[], Verdict, byte[], Verdict> {

  /** How often expired pairs are purged (wall clock). */
  static final Duration PURGE_INTERVAL = Duration.ofSeconds(1);

  /** Most pairs purged by one run, so that a punctuation stays short. */
  static final int PURGE_MAX_PER_RUN = 20_000;

  private static final byte PAIR = 0x00;
  private static final byte BY_TIME = 0x01;

  private final long windowMs;
  private final RequestValidator validator;
  private final BatcherMetrics metrics;
  private ProcessorContext<byte[], Verdict> context;
  private KeyValueStore<Bytes, Long> seen;
  private Cancellable purger;

  DedupProcessor(BatcherConfig config, ReplyTopics replyTopics, BatcherMetrics metrics) {
    this.windowMs = config.dedupWindowMs();
    this.validator = new RequestValidator(config, replyTopics);
    this.metrics = metrics;
  }

  @Override
  public void init(ProcessorContext<byte[], Verdict> context) {
    this.context = context;
    this.seen = context.getStateStore(BatcherTopology.DEDUP_STORE);
    this.purger = context.schedule(PURGE_INTERVAL, PunctuationType.WALL_CLOCK_TIME, this::purge);
  }

  @Override
  public void process(Record<byte[], Verdict> record) {
    if (!(record.value() instanceof Verdict.Accepted(InferenceRequest request))) {
      context.forward(record); // refused by an earlier step (TenantBindProcessor): passes as is
      return;
    }
    String tenant = request.getTenantId();
    String id = request.getRequestId();
    if (tenant.isBlank() || id.isBlank()) {
      context.forward(record);
      return;
    }
    if (record.key() == null || !Arrays.equals(record.key(), id.getBytes(StandardCharsets.UTF_8))) {
      Rejection r = keyIsNotTheRequestId(request, record.key());
      metrics.rejected(r.code().name());
      context.forward(record.withValue(new Verdict.Rejected(r.replyTopic(), r.toReply(request))));
      return;
    }
    long now = context.currentSystemTimeMs();
    byte[] pair = pair(tenant, id);
    Bytes key = Bytes.wrap(prefixed(PAIR, pair));
    Long first = seen.get(key);
    if (first != null && now - first < windowMs) {
      Rejection r = duplicate(request, first, now);
      metrics.rejected(r.code().name());
      context.forward(record.withValue(new Verdict.Rejected(r.replyTopic(), r.toReply(request))));
      return;
    }
    seen.put(key, now);
    seen.put(byTime(now, pair), now);
    context.forward(record);
  }

  /**
   * A request whose record key is not its requestId: partitioned by something else, its copies can
   * land on different partitions and tasks, where no single store sees both, so it is refused.
   */
  private Rejection keyIsNotTheRequestId(InferenceRequest request, byte[] key) {
    String topic = validator.errorReplyTopic(request);
    return new Rejection(
        ErrorCode.INVALID_PARAMS,
        "the record key must be the requestId '"
            + request.getRequestId()
            + "' (UTF-8) but is "
            + (key == null ? "null" : "'" + new String(key, StandardCharsets.UTF_8) + "'")
            + ": a (tenantId, requestId) is answered once only when every copy of it is keyed by"
            + " its requestId and so lands on one partition; send with key = requestId",
        topic);
  }

  private Rejection duplicate(InferenceRequest request, long firstMs, long nowMs) {
    String topic = validator.errorReplyTopic(request);
    String message =
        "duplicate request: tenant '"
            + request.getTenantId()
            + "' already sent requestId '"
            + request.getRequestId()
            + "'; the batcher read the first at "
            + Instant.ofEpochMilli(firstMs)
            + ", "
            + (nowMs - firstMs)
            + " ms before this one. A (tenantId, requestId) is answered once within "
            + BatcherConfig.DEDUP_WINDOW_MS
            + "="
            + windowMs
            + ": the first request's reply is the answer; send a new requestId to ask again";
    if (!topic.equals(request.getReplyTopic())) {
      message +=
          "; this error was written to "
              + topic
              + " because replyTopic '"
              + request.getReplyTopic()
              + "' may not be used or cannot be written";
    }
    return new Rejection(ErrorCode.DUPLICATE_REQUEST, message, topic);
  }

  /** Removes up to {@link #PURGE_MAX_PER_RUN} pairs read {@code windowMs} or longer before now. */
  private void purge(long now) {
    long cutoff = now - windowMs; // expired: read at or before cutoff
    if (cutoff < 0) {
      return;
    }
    List<KeyValue<Bytes, Long>> expired = new ArrayList<>();
    Bytes from = Bytes.wrap(timePrefix(0));
    Bytes to = Bytes.wrap(timePrefix(cutoff + 1)); // no index key equals it: each has a pair after
    try (KeyValueIterator<Bytes, Long> it = seen.range(from, to)) {
      while (it.hasNext() && expired.size() < PURGE_MAX_PER_RUN) {
        expired.add(it.next());
      }
    }
    for (KeyValue<Bytes, Long> e : expired) {
      seen.delete(e.key);
      byte[] index = e.key.get();
      byte[] pairKey = new byte[index.length - Long.BYTES];
      pairKey[0] = PAIR;
      System.arraycopy(index, 1 + Long.BYTES, pairKey, 1, pairKey.length - 1);
      Bytes k = Bytes.wrap(pairKey);
      // The pair may have been read again after it expired and before this run: keep that entry.
      if (e.value.equals(seen.get(k))) {
        seen.delete(k);
      }
    }
  }

  /** {@code int32 length of tenant ‖ tenant ‖ requestId}, UTF-8. */
  static byte[] pair(String tenant, String requestId) {
    byte[] t = tenant.getBytes(StandardCharsets.UTF_8);
    byte[] r = requestId.getBytes(StandardCharsets.UTF_8);
    return ByteBuffer.allocate(Integer.BYTES + t.length + r.length)
        .putInt(t.length)
        .put(t)
        .put(r)
        .array();
  }

  private static byte[] prefixed(byte kind, byte[] pair) {
    return ByteBuffer.allocate(1 + pair.length).put(kind).put(pair).array();
  }

  private static Bytes byTime(long ms, byte[] pair) {
    return Bytes.wrap(
        ByteBuffer.allocate(1 + Long.BYTES + pair.length).put(timePrefix(ms)).put(pair).array());
  }

  /** {@code 0x01 ‖ int64 ms}: big-endian, so non-negative times sort in time order. */
  private static byte[] timePrefix(long ms) {
    return ByteBuffer.allocate(1 + Long.BYTES).put(BY_TIME).putLong(ms).array();
  }

  @Override
  public void close() {
    if (purger != null) {
      purger.cancel();
    }
  }
}
