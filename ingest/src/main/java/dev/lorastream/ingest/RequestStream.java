package dev.lorastream.ingest;

import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.StreamChunk;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Flow;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.SubmissionPublisher;
import java.util.concurrent.TimeUnit;

/**
 * The events of one streamed request ({@link LoraClient#stream}), for one subscriber: events before
 * it subscribes are kept and handed to it first. Chunks of an attempt lower than the current one
 * are dropped; a higher one publishes a {@link StreamEvent.Restart}. The result comes through
 * another topic than the chunks and may overtake them, so it is published once the current
 * attempt's last chunk has come and the chunks' text equals the result's, or after {@link #GRACE}
 * (whatever chunks came), or at once when the result has no text and no tokens (answered before any
 * computing: no chunk will come). Thread-safe.
 */
final class RequestStream implements Flow.Publisher<StreamEvent> {
  /** How long a result waits for the last chunks it may have overtaken. */
  static final Duration GRACE = Duration.ofSeconds(2);

  private final String tenantId;
  private final SubmissionPublisher<StreamEvent> out =
      new SubmissionPublisher<>(Runnable::run, 1 << 14);
  private final ScheduledExecutorService timer;
  private final Runnable onDone; // forgets this stream
  private List<StreamEvent> early = new ArrayList<>(); // null once subscribed
  private Throwable failure;
  private boolean done;
  private long attempt = Long.MIN_VALUE;
  private boolean lastSeen;
  private final StringBuilder text = new StringBuilder();
  private InferenceResult result; // arrived, not yet published

  RequestStream(String tenantId, ScheduledExecutorService timer, Runnable onDone) {
    this.tenantId = tenantId;
    this.timer = timer;
    this.onDone = onDone;
  }

  /** Whether the stream ended in a failure. */
  synchronized boolean failed() {
    return failure != null;
  }

  String tenantId() {
    return tenantId;
  }

  @Override
  public synchronized void subscribe(Flow.Subscriber<? super StreamEvent> subscriber) {
    out.subscribe(subscriber);
    if (early != null) {
      List<StreamEvent> before = early;
      early = null;
      before.forEach(out::submit);
      if (done) {
        close();
      }
    }
  }

  /** Kinds of chunk this stream did not publish, for the client's metrics. */
  enum Outcome {
    PUBLISHED,
    STALE,
    AFTER_RESULT
  }

  synchronized Outcome onChunk(StreamChunk c) {
    if (done) {
      return Outcome.AFTER_RESULT;
    }
    if (c.getAttempt() < attempt) {
      return Outcome.STALE;
    }
    if (c.getAttempt() > attempt) {
      if (attempt != Long.MIN_VALUE) {
        publish(new StreamEvent.Restart(attempt, c.getAttempt(), text.toString()));
      }
      attempt = c.getAttempt();
      text.setLength(0);
      lastSeen = false;
    }
    text.append(c.getText());
    lastSeen |= c.getLast();
    publish(new StreamEvent.Chunk(c));
    if (result != null && lastSeen && text.toString().equals(result.getText())) {
      finish();
    }
    return Outcome.PUBLISHED;
  }

  synchronized void onResult(InferenceResult r) {
    if (done) {
      return;
    }
    result = r;
    boolean nothingComing = r.getText().isEmpty() && r.getTokenIds().isEmpty();
    if (nothingComing || (lastSeen && text.toString().equals(r.getText()))) {
      finish();
    } else {
      timer.schedule(this::graceOver, GRACE.toMillis(), TimeUnit.MILLISECONDS);
    }
  }

  synchronized void onFailure(Throwable t) {
    if (done) {
      return;
    }
    failure = t;
    done = true;
    onDone.run();
    if (early == null) {
      close();
    }
  }

  private synchronized void graceOver() {
    if (!done) {
      finish();
    }
  }

  private void finish() {
    publish(new StreamEvent.Result(result));
    done = true;
    onDone.run();
    if (early == null) {
      close();
    }
  }

  private void publish(StreamEvent e) {
    if (early != null) {
      early.add(e);
    } else {
      out.submit(e);
    }
  }

  private void close() {
    if (failure != null) {
      out.closeExceptionally(failure);
    } else {
      out.close();
    }
  }
}
