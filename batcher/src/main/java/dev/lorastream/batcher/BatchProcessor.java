package dev.lorastream.batcher;

import dev.lorastream.schemas.FlushReason;
import dev.lorastream.schemas.InferenceBatch;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.Tracing;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.processor.Cancellable;
import org.apache.kafka.streams.processor.PunctuationType;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;

/**
 * Buffers valid requests of one task (one {@code lora.requests} partition) and closes heterogeneous
 * batches.
 *
 * <p>Buffer: {@link BatcherTopology#BUFFER_STORE}, a persistent, changelogged store keyed by an
 * arrival sequence number (big-endian longs, so iteration order is arrival order). Batch ids are
 * {@code <taskId>-<n>} with {@code n} from {@link BatcherTopology#SEQUENCE_STORE}, committed with
 * the batch under exactly_once_v2, so ids stay unique across restarts.
 *
 * <p>Flush rules, checked for each new request before it is added: if the buffer is not empty and
 * adding it would exceed the token budget → flush TOKEN_BUDGET; if it would add an adapter past the
 * distinct-adapter limit → flush MAX_ADAPTERS. After adding: if the buffer holds the max request
 * count → flush MAX_REQUESTS. A wall-clock punctuator (every max.wait/5, at least 1 ms; it fires at
 * poll-loop granularity) flushes MAX_WAIT once the oldest buffered request has waited max.wait.
 * Base-model rows do not count as an adapter.
 *
 * <p>The arrival time of the oldest request is kept in memory only; after a restart or rebalance
 * the restored buffer counts as having arrived at init, so it is flushed at most max.wait after the
 * task resumes.
 *
 * <p>Routing: a batch whose adapter is hot ({@link Batches#isHot}) gets spread slot {@code k %
 * spread} for the k-th consecutive hot batch of that adapter (k from 0); any other batch slot 0,
 * and it resets the adapter's run. The slot travels in {@link RoutedBatch} to {@link
 * AffinityPartitioner} and in the {@link BatcherTopology#SPREAD_SLOT_HEADER} header.
 */
final class BatchProcessor implements Processor<String, InferenceRequest, String, RoutedBatch> {

  private static final String BATCH_SEQ_KEY = "batch";

  private final BatcherConfig config;
  private final BatcherMetrics metrics;
  private ProcessorContext<String, RoutedBatch> context;
  private KeyValueStore<Long, InferenceRequest> buffer;
  private KeyValueStore<String, Long> sequence;
  private Cancellable punctuator;

  // In-memory summary of the buffer, rebuilt from the store at init.
  private long nextArrival;
  private int count;
  private long tokens;
  private final Set<String> adapters = new HashSet<>();
  private long oldestArrivalMs;
  private final Map<String, Integer> hotRuns =
      new HashMap<>(); // adapter -> consecutive hot batches

  BatchProcessor(BatcherConfig config, BatcherMetrics metrics) {
    this.config = config;
    this.metrics = metrics;
  }

  @Override
  public void init(ProcessorContext<String, RoutedBatch> context) {
    this.context = context;
    this.buffer = context.getStateStore(BatcherTopology.BUFFER_STORE);
    this.sequence = context.getStateStore(BatcherTopology.SEQUENCE_STORE);
    try (KeyValueIterator<Long, InferenceRequest> it = buffer.all()) {
      while (it.hasNext()) {
        KeyValue<Long, InferenceRequest> kv = it.next();
        nextArrival = kv.key + 1;
        summarize(kv.value);
      }
    }
    oldestArrivalMs = context.currentSystemTimeMs();
    metrics.bufferChanged(count, tokens);
    long interval = Math.max(1, config.maxWaitMs() / 5);
    punctuator =
        context.schedule(
            Duration.ofMillis(interval), PunctuationType.WALL_CLOCK_TIME, this::onTick);
  }

  @Override
  public void process(Record<String, InferenceRequest> record) {
    InferenceRequest request = record.value();
    long now = context.currentSystemTimeMs();
    int t = Batches.tokens(request);
    String adapter = request.getAdapterId();
    if (count > 0 && tokens + t > config.maxBatchTokens()) {
      flush(FlushReason.TOKEN_BUDGET, now);
    } else if (count > 0
        && adapter != null
        && !adapters.contains(adapter)
        && adapters.size() + 1 > config.maxDistinctAdapters()) {
      flush(FlushReason.MAX_ADAPTERS, now);
    }
    if (count == 0) {
      oldestArrivalMs = now;
    }
    buffer.put(nextArrival++, request);
    summarize(request);
    metrics.bufferChanged(1, t);
    if (count >= config.maxBatchRequests()) {
      flush(FlushReason.MAX_REQUESTS, now);
    }
  }

  private void onTick(long now) {
    if (count > 0 && now - oldestArrivalMs >= config.maxWaitMs()) {
      flush(FlushReason.MAX_WAIT, now);
    }
  }

  private void flush(FlushReason reason, long now) {
    List<InferenceRequest> rows = new ArrayList<>(count);
    List<Long> keys = new ArrayList<>(count);
    try (KeyValueIterator<Long, InferenceRequest> it = buffer.all()) {
      while (it.hasNext()) {
        KeyValue<Long, InferenceRequest> kv = it.next();
        keys.add(kv.key);
        rows.add(kv.value);
      }
    }
    keys.forEach(buffer::delete);
    long seq = nextBatchSeq();
    InferenceBatch batch = Batches.build(context.taskId() + "-" + seq, rows, reason, now);
    int slot = spreadSlot(batch);
    metrics.bufferChanged(-count, -tokens);
    metrics.batch(batch, Duration.ofMillis(Math.max(0, now - oldestArrivalMs)), slot != 0);
    count = 0;
    tokens = 0;
    adapters.clear();
    RecordHeaders headers = new RecordHeaders();
    headers.add(
        BatcherTopology.SPREAD_SLOT_HEADER,
        Integer.toString(slot).getBytes(StandardCharsets.UTF_8));
    context.forward(new Record<>(batch.getBatchId(), new RoutedBatch(batch, slot), now, headers));
    traceQueue(batch, now);
  }

  /**
   * A {@code queue} span per traced row, from its creation to the batch closing, under the client's
   * span; a malformed {@code traceparent} is counted and the row served untraced.
   */
  private void traceQueue(InferenceBatch batch, long nowMs) {
    for (InferenceRequest r : batch.getRequests()) {
      switch (Tracing.parent(r.getTraceContext())) {
        case Tracing.Parent.None n -> {}
        case Tracing.Parent.Malformed m -> metrics.traceparentInvalid();
        case Tracing.Parent.Of(var parent) -> {
          long start = r.getCreatedEpochMs() > 0 ? Math.min(r.getCreatedEpochMs(), nowMs) : nowMs;
          metrics
              .tracer()
              .spanBuilder("queue")
              .setParent(parent)
              .setStartTimestamp(start, TimeUnit.MILLISECONDS)
              .setAttribute(Tracing.TENANT, r.getTenantId())
              .setAttribute(Tracing.ADAPTER, r.getAdapterId() == null ? "" : r.getAdapterId())
              .setAttribute(Tracing.BATCH_ID, batch.getBatchId())
              .setAttribute("lorastream.batch.flush_reason", batch.getFlushReason().name())
              .setAttribute("lorastream.batch.size", (long) batch.getRequests().size())
              .startSpan()
              .end(nowMs, TimeUnit.MILLISECONDS);
        }
      }
    }
  }

  private int spreadSlot(InferenceBatch batch) {
    String adapter = batch.getAffinityKey();
    if (adapter == null) {
      return 0;
    }
    if (!Batches.isHot(batch)) {
      hotRuns.remove(adapter);
      return 0;
    }
    int k = hotRuns.merge(adapter, 1, Integer::sum) - 1;
    return k % config.affinitySpread();
  }

  private long nextBatchSeq() {
    Long last = sequence.get(BATCH_SEQ_KEY);
    long next = last == null ? 0 : last + 1;
    sequence.put(BATCH_SEQ_KEY, next);
    return next;
  }

  private void summarize(InferenceRequest r) {
    count++;
    tokens += Batches.tokens(r);
    if (r.getAdapterId() != null) {
      adapters.add(r.getAdapterId());
    }
  }

  @Override
  public void close() {
    if (punctuator != null) {
      punctuator.cancel();
    }
    metrics.bufferChanged(
        -count, -tokens); // the buffer stays in the store; its next owner counts it
  }
}
