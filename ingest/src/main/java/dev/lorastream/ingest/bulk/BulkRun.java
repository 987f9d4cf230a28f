package dev.lorastream.ingest.bulk;

import dev.lorastream.schemas.ErrorCode;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.Priorities;
import dev.lorastream.schemas.SamplingParams;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;

/**
 * The steps of one {@code bulk} run, free of files and Kafka: {@link #plan} what to send, {@link
 * #execute} it with at most {@code concurrency} requests in flight, {@link #assemble} the output in
 * input order and the list of failures.
 */
public final class BulkRun {

  /**
   * Sends one request and returns the future of its reply ({@code LoraClient::submit} with a
   * timeout).
   */
  @FunctionalInterface
  public interface Submitter {
    CompletableFuture<InferenceResult> submit(InferenceRequest.Builder request);
  }

  /**
   * @param adapter adapter id, or null for the base model
   * @param maxTokens default {@code max_tokens} for lines without one; null = the schema's default
   * @param temperature default {@code temperature} for lines without one; null = the schema's
   *     default
   * @param concurrency requests in flight at most (>= 1)
   */
  public record Settings(
      String tenant,
      String adapter,
      Integer maxTokens,
      Float temperature,
      int concurrency,
      int priority) {
    public Settings {
      if (concurrency < 1) {
        throw new IllegalArgumentException("concurrency must be >= 1, got " + concurrency);
      }
      Priorities.problem(priority)
          .ifPresent(
              p -> {
                throw new IllegalArgumentException(p);
              });
    }

    /** Bulk traffic's own priority, {@link Priorities#BULK}: below online requests. */
    public Settings(
        String tenant, String adapter, Integer maxTokens, Float temperature, int concurrency) {
      this(tenant, adapter, maxTokens, temperature, concurrency, Priorities.BULK);
    }
  }

  /**
   * @param rows the output: one row per input document in input order, then rows of earlier runs
   *     whose ids are no longer in the input (kept, not thrown away)
   * @param failures one line per failed document ({@code id: CODE message}) and per malformed input
   *     line
   */
  public record Outcome(List<ResultRow> rows, List<String> failures) {}

  private BulkRun() {}

  /**
   * Documents still to send: valid ones without a successful row from an earlier run (failed ones
   * retry).
   */
  public static List<BulkDoc> plan(List<BulkDoc> docs, Map<String, ResultRow> previous) {
    List<BulkDoc> todo = new ArrayList<>();
    for (BulkDoc d : docs) {
      ResultRow before = previous.get(d.id());
      if (before == null || !before.ok()) {
        todo.add(d);
      }
    }
    return todo;
  }

  /** The request of one document: prompt text, tenant, adapter, sampling, a fresh request id. */
  public static InferenceRequest.Builder request(BulkDoc doc, Settings s) {
    SamplingParams.Builder sampling = SamplingParams.newBuilder();
    Integer maxTokens = doc.maxTokens() != null ? doc.maxTokens() : s.maxTokens();
    Float temperature = doc.temperature() != null ? doc.temperature() : s.temperature();
    if (maxTokens != null) {
      sampling.setMaxTokens(maxTokens);
    }
    if (temperature != null) {
      sampling.setTemperature(temperature);
    }
    return InferenceRequest.newBuilder()
        .setRequestId(UUID.randomUUID().toString())
        .setTenantId(s.tenant())
        .setAdapterId(s.adapter())
        .setPrompt(doc.text())
        .setPriority(s.priority())
        .setSampling(sampling.build());
  }

  /**
   * Sends every document of {@code todo} and waits for all of them. Invalid documents are not sent;
   * they get an {@code INVALID_PARAMS} row. Each row goes to {@code sink} (the journal) and {@code
   * progress} as it comes.
   *
   * @return this run's rows by document id
   */
  public static Map<String, ResultRow> execute(
      List<BulkDoc> todo,
      Settings s,
      Submitter submitter,
      Consumer<ResultRow> sink,
      Progress progress)
      throws InterruptedException {
    Map<String, ResultRow> fresh = new ConcurrentHashMap<>();
    Semaphore inFlight = new Semaphore(s.concurrency());
    List<RuntimeException> sinkErrors = new ArrayList<>();
    Consumer<ResultRow> finish =
        row -> {
          fresh.put(row.id(), row);
          try {
            sink.accept(row);
          } catch (RuntimeException e) {
            synchronized (sinkErrors) {
              sinkErrors.add(e);
            }
          }
          progress.advance(row.ok());
        };
    for (BulkDoc doc : todo) {
      if (doc.invalid() != null) {
        finish.accept(ResultRow.failure(doc.id(), null, ErrorCode.INVALID_PARAMS, doc.invalid()));
        continue;
      }
      inFlight.acquire();
      InferenceRequest.Builder req = request(doc, s);
      String requestId = req.getRequestId();
      CompletableFuture<InferenceResult> reply;
      try {
        reply = submitter.submit(req);
      } catch (RuntimeException e) {
        reply = CompletableFuture.failedFuture(e);
      }
      reply.whenComplete(
          (result, failure) -> {
            try {
              finish.accept(
                  failure == null
                      ? ResultRow.of(doc.id(), result)
                      : failureRow(doc.id(), requestId, failure));
            } finally {
              inFlight.release();
            }
          });
    }
    inFlight.acquire(s.concurrency()); // every request answered or failed
    if (!sinkErrors.isEmpty()) {
      throw sinkErrors.getFirst();
    }
    return fresh;
  }

  static ResultRow failureRow(String id, String requestId, Throwable failure) {
    Throwable t =
        failure instanceof CompletionException && failure.getCause() != null
            ? failure.getCause()
            : failure;
    return switch (t) {
      case TimeoutException e ->
          ResultRow.failure(
              id, requestId, ErrorCode.DEADLINE_EXCEEDED, "client timeout: " + e.getMessage());
      case IllegalArgumentException e ->
          ResultRow.failure(id, requestId, ErrorCode.INVALID_PARAMS, e.getMessage());
      default -> ResultRow.failure(id, requestId, ErrorCode.INTERNAL, "request failed: " + t);
    };
  }

  /** The output rows in input order and the failures, from earlier runs' rows and this run's. */
  public static Outcome assemble(
      JsonlInput input, Map<String, ResultRow> previous, Map<String, ResultRow> fresh) {
    List<ResultRow> rows = new ArrayList<>();
    List<String> failures = new ArrayList<>();
    Set<String> ids = new HashSet<>();
    for (BulkDoc d : input.docs()) {
      ids.add(d.id());
      ResultRow row = fresh.containsKey(d.id()) ? fresh.get(d.id()) : previous.get(d.id());
      if (row == null) { // cannot happen after execute(plan(...)); kept as a failure rather than
        // dropped
        row = ResultRow.failure(d.id(), null, ErrorCode.INTERNAL, "no result recorded");
      }
      rows.add(row);
      if (!row.ok()) {
        failures.add(
            d.id() + " (line " + d.line() + "): " + row.errorCode() + " " + row.errorMessage());
      }
    }
    for (Malformed m : input.malformed()) {
      failures.add(m.toString());
    }
    for (ResultRow old : previous.values()) {
      if (!ids.contains(old.id())) {
        rows.add(old);
      }
    }
    return new Outcome(List.copyOf(rows), List.copyOf(failures));
  }
}
