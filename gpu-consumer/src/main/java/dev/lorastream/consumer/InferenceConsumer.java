package dev.lorastream.consumer;

import dev.lorastream.engine.backends.Backends;
import dev.lorastream.engine.model.LlamaModel;
import dev.lorastream.engine.model.LoadedModel;
import dev.lorastream.engine.model.ModelLoader;
import dev.lorastream.engine.ops.Ops;
import dev.lorastream.engine.sched.Engine;
import dev.lorastream.engine.sched.EngineConfig;
import dev.lorastream.engine.sched.EngineLoop;
import dev.lorastream.schemas.AdminReplyTopics;
import dev.lorastream.schemas.InferenceBatch;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.ReplyTopicCache;
import dev.lorastream.schemas.ReplyTopics;
import dev.lorastream.schemas.Tenancy;
import dev.lorastream.schemas.Tenants;
import dev.lorastream.schemas.Topics;
import dev.lorastream.schemas.Tracing;
import dev.lorastream.schemas.UsageTopic;
import dev.lorastream.schemas.serde.AvroSerdeConfig;
import dev.lorastream.schemas.serde.AvroSerializer;
import dev.lorastream.tokenizer.HfTokenizer;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.binder.kafka.KafkaClientMetrics;
import io.opentelemetry.api.OpenTelemetry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.errors.RecordDeserializationException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The inference consumer: a member of the consumer group on {@code lora.batches} that feeds every
 * request of every batch it pulls into one continuous-batching engine, and writes each result to
 * its request's reply topic. Every {@code lorastream.consumer.commit.interval.ms} one Kafka
 * transaction commits every result finished since, each independent of its batch mates, with each
 * partition's offset (the first batch not fully answered) and, in the offset's metadata, which rows
 * of the later batches are answered ({@link ReleaseTracker}, {@link AnsweredRowsCodec}). So a
 * consumer killed at any point loses nothing and a {@code read_committed} reader sees each result
 * exactly once: the partition's new owner reads the metadata and computes only the rows not
 * answered.
 *
 * <p>Before that transaction begins, each result's reply topic is checked ({@link ReplyRouter},
 * through an Admin client behind a {@link ReplyTopicCache}): a result whose topic cannot be written
 * is replaced by an INVALID_PARAMS error on {@code lora.replies}, which {@link #run} checks at
 * start, so that one deleted reply topic cannot poison every transaction. A failed attempt
 * (transaction aborted, or reply topics that the cluster cannot answer about now) forgets the
 * cached answers and keeps its results for the next attempt, which waits a {@link RetryBackoff} and
 * routes them again.
 *
 * <p>The same transaction writes, unless {@code lorastream.consumer.usage} is false, this
 * consumer's cumulative token counts of each tenant, adapter and hour its results touch to the
 * compacted {@code lora.usage} ({@link UsageLedger}), so the usage a read_committed reader sums
 * counts each delivered result exactly once; in topics tenancy each record also goes to the
 * tenant's own {@code lora.tenant.<t>.usage}, which only that tenant (and operators) may read.
 *
 * <p>Every {@code lorastream.consumer.residency.interval.ms} a {@link ResidencyPublisher} thread
 * writes the consumer's partitions and the adapters its engine holds to {@code lora.residency}, for
 * the batchers' routing, and a tombstone at {@link #close}.
 *
 * <p>{@link #run} owns the Kafka clients and must be called from one thread; {@link #stop} from
 * any.
 */
public final class InferenceConsumer implements AutoCloseable {
  /** How long {@link #run} waits for the adapter catalog to read the topic before giving up. */
  static final Duration CATALOG_CATCH_UP = Duration.ofSeconds(30);

  /** The epoch second this process started: part of {@code StreamChunk.attempt}. */
  private static final long STARTED_S = System.currentTimeMillis() / 1000;

  private final ConsumerSettings settings;
  private final Ops ops;
  private final LoadedModel model;
  private final HfTokenizer tokenizer;
  private final AdapterCatalog catalog;
  private final EngineLoop loop;
  private final RequestIntake intake;
  private final ChunkStreamer streamer;
  private final CancelReader cancels;
  private final Thread cancelThread;
  // null when lorastream.consumer.residency.interval.ms is 0 (off), as is its thread
  private final ResidencyPublisher residency;
  private final Thread residencyThread;
  // the lora.batches partitions assigned now: written by the rebalance listener (poll thread),
  // read by the residency publisher's thread
  private final Set<Integer> batchPartitions = ConcurrentHashMap.newKeySet();
  private final KafkaConsumer<String, InferenceBatch> consumer;
  // results and usage records, in one transaction
  private final KafkaProducer<String, SpecificRecord> producer;
  private final Map<String, Object> serde;
  // null when lorastream.consumer.usage is false
  private final UsageLedger usage;
  private final ConsumerTracing tracing;
  private volatile boolean draining;
  private volatile long drainDeadlineNanos;
  private final ConsumerMetrics metrics;
  private final AdminReplyTopics replyTopicLookup;
  private final ReplyTopicCache replyTopics;
  private final ReplyRouter router;
  private final RetryBackoff retry;
  private final ConsumerHealth health;
  private final ReleaseTracker tracker;
  private final List<AutoCloseable> binders = new ArrayList<>();
  private volatile boolean running = true;

  public InferenceConsumer(ConsumerSettings s, EngineConfig ec, MeterRegistry registry) {
    this(s, ec, registry, Tracing.forService("lorastream-consumer"));
  }

  /**
   * {@link #InferenceConsumer(ConsumerSettings, EngineConfig, MeterRegistry)} with its spans going
   * to {@code openTelemetry} ({@link ConsumerTracing}).
   */
  public InferenceConsumer(
      ConsumerSettings s, EngineConfig ec, MeterRegistry registry, OpenTelemetry openTelemetry) {
    this.settings = s;
    this.tracing = new ConsumerTracing(openTelemetry);
    Map<String, Object> serde = Map.of(AvroSerdeConfig.SCHEMA_REGISTRY_URL, s.schemaRegistryUrl());
    this.serde = serde;
    this.ops = Backends.create(System.getProperty(Backends.PROPERTY, "auto"));
    this.model = ModelLoader.load(s.modelDir(), ops);
    this.tokenizer = HfTokenizer.load(s.modelDir());
    this.catalog = new AdapterCatalog(s.clientConfig(Map.of()), serde);
    LlamaModel m = new LlamaModel(model.config(), model.weights(), ops, ec.loraKernel());
    CatalogAdapterSource source =
        new CatalogAdapterSource(catalog, s, model.config(), ec.maxRank());
    this.loop =
        new EngineLoop(new Engine(m, ec, source, tokenizer::decode), "engine-" + s.consumerId());
    // A changed or deleted registration drops every copy the engine holds (host cache, failed-load
    // memory, backend slot once no running sequence uses it).
    catalog.onChange(loop.engine()::invalidateAdapter);
    this.health = new ConsumerHealth(loop::fatal, catalog::live);
    this.consumer =
        new KafkaConsumer<>(
            consumerConfig(s),
            new StringDeserializer(),
            Topics.BATCHES.valueSerde(serde).deserializer());
    this.streamer = ChunkStreamer.create(s, serde, tokenizer::decode, registry);
    this.cancels = CancelReader.create(s, serde, loop::cancel, registry);
    this.intake =
        new RequestIntake(
            loop, tokenizer::encode, s.consumerId(), streamer, cancels, this::attempt);
    this.producer =
        new KafkaProducer<>(
            s.clientConfig(
                Map.of(
                    "transactional.id",
                    "lorastream-consumer-" + s.consumerId(),
                    "client.id",
                    s.consumerId() + "-results",
                    "linger.ms",
                    5)),
            new StringSerializer(),
            values(serde));
    this.tracker = new ReleaseTracker(s.offsetMetadataMaxBytes());
    this.metrics = new ConsumerMetrics(registry, loop.engine(), tracker::generating, catalog);
    this.replyTopicLookup =
        new AdminReplyTopics(
            Admin.create(s.clientConfig(Map.of("client.id", s.consumerId() + "-admin"))),
            s.bootstrapServers());
    this.replyTopics =
        ReplyTopicCache.of(replyTopicLookup, s.replyTopicCacheMs(), s.replyTopicRecheckMs());
    this.router = new ReplyRouter(replyTopics, s.consumerId(), metrics::replyRerouted, s.tenancy());
    this.usage =
        !s.usage()
            ? null
            : new UsageLedger(
                s.consumerId(),
                Topics.USAGE.name(),
                s.tenancy() == Tenancy.TOPICS ? this::tenantUsageTopic : tenant -> null);
    this.retry = RetryBackoff.of(s.retryBackoffMs(), s.retryBackoffMaxMs());
    this.cancelThread = new Thread(cancels, "cancels-" + s.consumerId());
    this.cancelThread.setDaemon(true);
    if (s.residencyIntervalMs() > 0) {
      this.residency =
          ResidencyPublisher.create(
              s, serde, () -> batchPartitions, loop.engine()::residency, registry);
      this.residencyThread = new Thread(residency, "residency-" + s.consumerId());
      this.residencyThread.setDaemon(true);
    } else {
      this.residency = null;
      this.residencyThread = null;
    }
    binders.add(new KafkaClientMetrics(consumer));
    binders.add(new KafkaClientMetrics(producer));
    binders.forEach(b -> ((KafkaClientMetrics) b).bindTo(registry));
  }

  /**
   * Serves until {@link #stop}; throws when the engine or the transaction producer failed for good,
   * or at start when {@code lora.replies} cannot be written (every misdirected result goes there)
   * or the adapter catalog has not read {@code lora.adapters} within {@link #CATALOG_CATCH_UP}.
   */
  public void run() throws InterruptedException {
    producer.initTransactions();
    ReplyTopics.State replies = replyTopicLookup.state(Topics.REPLIES.name());
    if (replies != ReplyTopics.State.EXISTS) {
      throw new IllegalStateException(
          "the inference consumer cannot write topic "
              + Topics.REPLIES.name()
              + " at "
              + settings.bootstrapServers()
              + ": "
              + replies
              + " (it does not create topics: create it with"
              + " the admin tool or the demo first, and grant this consumer DESCRIBE and WRITE on it)");
    }
    if (usage != null) {
      restoreUsage();
    }
    // Fail fast rather than serve blind: without the catalog every request for an adapter not yet
    // read would be answered UNKNOWN_ADAPTER (a wrong, committed answer); exiting leaves the
    // batches uncommitted for a restart or another consumer.
    if (!catalog.awaitCaughtUp(CATALOG_CATCH_UP)) {
      throw new IllegalStateException(
          "the adapter catalog did not catch up with "
              + Topics.ADAPTERS.name()
              + " at "
              + settings.bootstrapServers()
              + " within "
              + CATALOG_CATCH_UP.toSeconds()
              + " s (last error: "
              + catalog.lastError()
              + "); not serving without it",
          catalog.lastError());
    }
    cancelThread.start();
    if (residencyThread != null) {
      residencyThread.start();
    }
    consumer.subscribe(Set.of(Topics.BATCHES.name()), new Rebalance());
    health.polling(true);
    try {
      poll();
    } finally {
      health.polling(false);
    }
  }

  /**
   * Reads this consumer's committed usage counts back (after {@code initTransactions}, so no
   * transaction of an earlier instance of it is still open), so that counting goes on from them.
   *
   * @throws IllegalStateException when {@code lora.usage} cannot be written or read
   */
  private void restoreUsage() {
    ReplyTopics.State state = replyTopicLookup.state(Topics.USAGE.name());
    if (state != ReplyTopics.State.EXISTS) {
      throw new IllegalStateException(
          "the inference consumer cannot write topic "
              + Topics.USAGE.name()
              + " at "
              + settings.bootstrapServers()
              + ": "
              + state
              + " (create it compacted and grant this consumer DESCRIBE, READ and WRITE on it, or"
              + " count no usage with "
              + ConsumerSettings.USAGE
              + "=false / LORASTREAM_CONSUMER_USAGE=false)");
    }
    usage.restore(
        UsageTopic.read(
            settings.clientConfig(Map.of("client.id", settings.consumerId() + "-usage")),
            serde,
            CATALOG_CATCH_UP),
        System.currentTimeMillis());
  }

  /**
   * Topics tenancy: {@code lora.tenant.<t>.usage} when it can be written (it is created by {@code
   * tenant add}; a tenant provisioned before it existed has none, and one write to a missing topic
   * would fail the whole transaction), else null: that tenant's counts are then on {@code
   * lora.usage} only, and {@code lorastream.consumer.tenant.usage.skipped} counts them.
   */
  private String tenantUsageTopic(String tenant) {
    if (!Tenants.isName(tenant)) {
      return null;
    }
    String topic = Tenants.usageTopic(tenant);
    if (replyTopics.state(topic) == ReplyTopics.State.EXISTS) {
      return topic;
    }
    metrics.tenantUsageSkipped();
    return null;
  }

  /** One Avro serializer for both kinds of record the transaction producer writes. */
  private static AvroSerializer<SpecificRecord> values(Map<String, Object> serde) {
    AvroSerializer<SpecificRecord> v = new AvroSerializer<>();
    v.configure(serde, false);
    return v;
  }

  /**
   * The batch consumer's settings: read_committed, manual commits (offsets go in the results'
   * transaction), and static membership ({@code group.instance.id} = the consumer id), so that a
   * restarted consumer gets its partitions back at once instead of after the session timeout.
   */
  static Map<String, Object> consumerConfig(ConsumerSettings s) {
    return s.clientConfig(
        Map.of(
            "group.id",
            s.groupId(),
            "client.id",
            s.consumerId(),
            // static membership: a restarted consumer (same id) gets its partitions back at once,
            // instead of after the session timeout or a rebalance of the whole group
            "group.instance.id",
            s.consumerId(),
            "enable.auto.commit",
            false,
            "isolation.level",
            "read_committed",
            "auto.offset.reset",
            "earliest",
            "max.poll.records",
            8));
  }

  /** {@code StreamChunk.attempt} of the requests taken now ({@link ChunkStreamer#attempt}). */
  private long attempt() {
    return ChunkStreamer.attempt(consumer.groupMetadata().generationId(), STARTED_S);
  }

  /** What {@code /health} reports ({@link ConsumerHealth}); any thread, never blocks. */
  public boolean healthy() {
    return health.getAsBoolean();
  }

  /**
   * The poll loop: pulls batches into the engine and releases finished requests, until {@link
   * #stop}.
   */
  private void poll() {
    long lastRelease = System.nanoTime();
    while (running) {
      if (draining) {
        if (tracker.generating() == 0 || System.nanoTime() - drainDeadlineNanos > 0) {
          release(); // what finished; anything still computing is handed back
          System.err.printf(
              "consumer %s: drained (%d batches still computing handed back)%n",
              settings.consumerId(), tracker.generating());
          break;
        }
      }
      Throwable fatal = loop.fatal();
      if (fatal != null) {
        throw new IllegalStateException(
            "engine failed; uncommitted batches will be redelivered", fatal);
      }
      int generating = tracker.generating();
      if (draining || generating >= settings.maxInflightBatches()) {
        consumer.pause(consumer.assignment());
      } else {
        Set<TopicPartition> resume = new HashSet<>(consumer.paused());
        resume.removeIf(tracker::stillRefused);
        consumer.resume(resume);
      }
      try {
        Set<TopicPartition> refusedNow = new HashSet<>();
        for (ConsumerRecord<String, InferenceBatch> r :
            consumer.poll(Duration.ofMillis(generating > 0 ? 5 : settings.commitIntervalMs()))) {
          take(r, refusedNow);
        }
      } catch (org.apache.kafka.common.errors.WakeupException e) {
        if (draining && running) {
          continue; // drain(): go on computing and committing, taking nothing new
        }
        break; // stop()
      } catch (RecordDeserializationException e) {
        // Only our batcher writes lora.batches; a record we cannot read is skipped, loudly.
        System.err.println(
            "skipping undecodable batch at " + e.topicPartition() + "@" + e.offset() + ": " + e);
        metrics.batchUndecodable();
        tracker.skipped(e.topicPartition(), e.offset());
        consumer.seek(e.topicPartition(), e.offset() + 1);
      }
      long now = System.nanoTime();
      if (now - lastRelease >= settings.commitIntervalMs() * 1_000_000L) {
        lastRelease = now;
        release();
      }
    }
  }

  /**
   * Takes one polled batch into the engine, or, when its partition's answered-rows metadata could
   * outgrow {@code offset.metadata.max.bytes}, refuses it: rewinds to it and pauses the partition
   * until releases make room ({@link PartitionProgress#fits}).
   */
  private void take(ConsumerRecord<String, InferenceBatch> r, Set<TopicPartition> refusedNow) {
    TopicPartition tp = new TopicPartition(r.topic(), r.partition());
    if (refusedNow.contains(tp)) {
      return; // rewound already: comes again once resumed
    }
    int rows = r.value().getRequests().size();
    if (!tracker.fits(tp, r.offset(), rows)) {
      refusedNow.add(tp);
      tracker.refuse(tp, r.offset(), rows);
      consumer.seek(tp, r.offset());
      consumer.pause(Set.of(tp));
      metrics.batchRefused();
      return;
    }
    BitSet answered = tracker.admit(tp, r.offset(), rows);
    tracker.attach(intake.start(tp, r.offset(), r.value(), answered));
    metrics.batchReceived(rows);
  }

  /**
   * Commits, in one transaction, the result of every finished request not yet released and each
   * changed partition's offset and answered-rows metadata; after a failed attempt, not before its
   * backoff has passed.
   */
  private void release() {
    if (!retry.ready()) {
      return;
    }
    ReleaseTracker.Release next = tracker.next();
    if (next == null) {
      return;
    }
    List<ProducerRecord<String, InferenceResult>> records = new ArrayList<>();
    UsageLedger.Staged counted;
    long now = System.currentTimeMillis();
    try {
      // before the transaction: a lookup must not hold it open
      for (PartitionProgress.Row row : next.rows()) {
        InFlightBatch b = row.batch();
        InferenceRequest req = b.requests().get(row.row());
        ProducerRecord<String, InferenceResult> reply =
            router.record(req, row.result(), b.batchId());
        Tracing.toHeaders(req.getTraceContext(), reply.headers()); // the client's span
        records.add(reply);
      }
    } catch (KafkaException e) {
      failed(next, "cannot check reply topics", e); // transient: not the requests' fault
      return;
    }
    // what is delivered is what is counted (an error put in a result's place included)
    counted =
        usage == null ? null : usage.stage(records.stream().map(r -> r.value()).toList(), now);
    try {
      producer.beginTransaction();
      for (ProducerRecord<String, InferenceResult> r : records) {
        producer.send(widen(r));
      }
      if (counted != null) {
        counted.records().forEach(r -> producer.send(widen(r)));
      }
      producer.sendOffsetsToTransaction(next.offsets(), consumer.groupMetadata());
      producer.commitTransaction();
    } catch (ProducerFencedException e) {
      throw e; // another instance took our transactional id: stop; nothing of ours was committed
    } catch (KafkaException e) {
      producer.abortTransaction();
      metrics.abortedTransaction();
      failed(next, "transaction aborted", e);
      return;
    }
    tracker.committed(next);
    if (counted != null) {
      usage.commit(counted, now);
    }
    retry.succeeded();
    records.forEach(r -> metrics.result(r.value()));
    long committed = System.currentTimeMillis();
    for (int i = 0; i < records.size(); i++) { // one record per row, in order
      PartitionProgress.Row row = next.rows().get(i);
      InFlightBatch b = row.batch();
      tracing.committed(b, b.requests().get(row.row()), records.get(i).value(), committed);
    }
  }

  private static <V extends SpecificRecord> ProducerRecord<String, SpecificRecord> widen(
      ProducerRecord<String, V> r) {
    return new ProducerRecord<>(r.topic(), r.partition(), r.key(), r.value(), r.headers());
  }

  /**
   * A release that did not commit: its results stay finished and unreleased and go in the next
   * attempt, after a backoff; every cached reply-topic answer is forgotten, since a stale "exists"
   * may be why (the retry asks the cluster again and reroutes a result whose topic is gone).
   */
  private void failed(ReleaseTracker.Release r, String what, KafkaException why) {
    replyTopics.forgetAll();
    tracker.failed(r);
    long waitMs = retry.failed();
    System.err.println(
        "consumer "
            + settings.consumerId()
            + ": "
            + what
            + " (attempt "
            + retry.failures()
            + "); releasing "
            + r.rows().size()
            + " results with offsets "
            + r.offsets().keySet()
            + " again in "
            + waitMs
            + " ms: "
            + why);
  }

  public void stop() {
    running = false;
    consumer.wakeup();
    cancels.stop();
  }

  /**
   * Ends serving gracefully (SIGTERM): takes no new batches (its partitions are paused, so it stays
   * in the group and keeps them), computes and commits the batches it has for at most {@link
   * ConsumerSettings#shutdownGraceMs}, then stops as {@link #stop} does; {@link #run} returns, and
   * {@link #close} leaves the group, handing whatever was not committed back to the partitions'
   * next owner. Not ready ({@link #ready}) from the call on.
   */
  public void drain() {
    if (settings.shutdownGraceMs() == 0) {
      stop();
      return;
    }
    drainDeadlineNanos = System.nanoTime() + settings.shutdownGraceMs() * 1_000_000L;
    draining = true;
    consumer.wakeup(); // out of a long poll at once
  }

  /** Whether it serves: {@link #healthy} and not draining ({@code /ready}). */
  public boolean ready() {
    return healthy() && !draining;
  }

  /** Whether the process should be left running: its engine has not failed ({@code /live}). */
  public boolean live() {
    return loop.fatal() == null;
  }

  @Override
  public void close() {
    running = false;
    for (AutoCloseable b : binders) {
      try {
        b.close();
      } catch (Exception e) {
        // metrics only
      }
    }
    if (residency != null) {
      residency.close(); // its tombstone first: the batchers stop routing by this consumer
    }
    cancels.close(cancelThread);
    // a static member stays in the group on a plain close (until its session times out); a clean
    // stop leaves, so that its partitions move to the others at once
    consumer.close(
        CloseOptions.groupMembershipOperation(CloseOptions.GroupMembershipOperation.LEAVE_GROUP));
    producer.close(Duration.ofSeconds(5));
    streamer.close();
    replyTopicLookup.close();
    loop.close();
    loop.engine().close();
    catalog.close();
    tokenizer.close();
    model.close();
    ops.close();
  }

  /**
   * Partitions taken away: their unreleased work belongs to the new owner now, so forget it and
   * cancel its requests still in the engine (their KV blocks and seats go to the partitions kept).
   * Partitions given: read which rows are answered from their committed offset metadata. Either way
   * the set of partitions the {@link ResidencyPublisher} publishes follows.
   */
  private final class Rebalance implements ConsumerRebalanceListener {
    @Override
    public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
      for (TopicPartition tp : partitions) {
        if (tp.topic().equals(Topics.BATCHES.name())) {
          batchPartitions.remove(tp.partition());
        }
      }
      int cancelled = 0;
      for (InFlightBatch b : tracker.removed(partitions)) {
        cancelled += intake.cancel(b);
      }
      metrics.revokedCancelled(cancelled);
    }

    @Override
    public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
      Map<TopicPartition, OffsetAndMetadata> committed =
          consumer.committed(new HashSet<>(partitions));
      for (TopicPartition tp : partitions) {
        tracker.assigned(tp, committed.get(tp));
        if (tp.topic().equals(Topics.BATCHES.name())) {
          batchPartitions.add(tp.partition());
        }
      }
    }

    @Override
    public void onPartitionsLost(Collection<TopicPartition> partitions) {
      onPartitionsRevoked(partitions);
    }
  }
}
