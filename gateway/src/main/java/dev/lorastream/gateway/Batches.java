package dev.lorastream.gateway;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.Priorities;
import io.javalin.http.Context;
import io.javalin.http.UploadedFile;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;
import java.util.function.LongSupplier;

/**
 * OpenAI's Batch API: {@code /v1/files} (purpose {@code batch}, JSONL) and {@code /v1/batches}.
 * Each line of a batch's input file, {@code {"custom_id", "method": "POST", "url", "body"}}, is
 * checked as the online endpoint would check it and sent through the pipeline at {@link
 * Priorities#BULK}, below online traffic, with at most {@link GatewayConfig.Batch#concurrency} in
 * flight per batch. A bad line gets an error result; the rest run.
 *
 * <p>Kept in {@link GatewayConfig.Batch#dataDir}: {@code files/ID.json} (the file's record, with
 * its tenant) and {@code files/ID.data} (its bytes); {@code batches/ID.json} (the batch, rewritten
 * atomically at each change of status) and {@code batches/ID.results.jsonl}, a journal to which
 * each line's result is appended (and flushed) as it comes. When the gateway starts, every batch
 * that had not ended goes on: lines with a result in the journal are not sent again; lines that
 * were in flight are sent again (their first answers are lost with the old gateway). At the end the
 * results are written in input order, successes to the output file and failures to the error file
 * ({@code output_file_id}, {@code error_file_id}); every input line has exactly one result line in
 * one of the two. A cancelled or expired batch ends with the lines it ran; each line it did not run
 * is in the error file as {@code batch_cancelled} or {@code batch_expired}.
 *
 * <p>Files and batches belong to the tenant of the key that made them; another tenant's are
 * answered 404, as ids that do not exist.
 */
final class Batches implements AutoCloseable {
  /** Most requests in one batch, as OpenAI. */
  static final int MAX_LINES = 50_000;

  /** The only completion window, as OpenAI. */
  static final String WINDOW = "24h";

  static final Set<String> ENDPOINTS = Set.of("/v1/completions", "/v1/chat/completions");

  private static final Set<String> RUNNING =
      Set.of("validating", "in_progress", "finalizing", "cancelling");

  /** What a batch needs of the gateway to run its lines. */
  interface Lines {
    /** {@link Gateway#prepare}: the checked request of a line's body, or an {@link ApiError}. */
    Gateway.Prepared prepare(String tenant, ObjectNode body, boolean chat);

    CompletableFuture<InferenceResult> submit(InferenceRequest.Builder request, Duration timeout);

    void cancel(String tenant, String requestId);

    /** The HTTP error of a request that failed without a result. */
    ApiError failure(Throwable t);
  }

  private final GatewayConfig.Batch settings;
  private final long maxLineBytes;
  private final Lines lines;
  private final ObjectMapper json;
  private final LongSupplier clockMs;
  private final Path files;
  private final Path batchDir;
  private final Map<String, Job> jobs = new ConcurrentHashMap<>();
  private final SecureRandom random = new SecureRandom();
  private volatile boolean closed;

  Batches(
      GatewayConfig.Batch settings,
      long maxLineBytes,
      Lines lines,
      ObjectMapper json,
      LongSupplier clockMs) {
    this.settings = settings;
    this.maxLineBytes = maxLineBytes;
    this.lines = lines;
    this.json = json;
    this.clockMs = clockMs;
    this.files = settings.dataDir().resolve("files");
    this.batchDir = settings.dataDir().resolve("batches");
    try {
      Files.createDirectories(files);
      Files.createDirectories(batchDir);
    } catch (IOException e) {
      throw new IllegalStateException(
          "cannot create the gateway's data folder "
              + settings.dataDir()
              + " ("
              + e
              + "): set "
              + GatewayConfig.DATA_DIR
              + " to a writable folder",
          e);
    }
  }

  /** Loads every batch kept and starts again those that had not ended; returns how many. */
  int resume() {
    int resumed = 0;
    try (DirectoryStream<Path> all = Files.newDirectoryStream(batchDir, "*.json")) {
      for (Path p : all) {
        Job j = Job.load(this, (ObjectNode) json.readTree(p.toFile()));
        jobs.put(j.id, j);
        if (RUNNING.contains(j.status)) {
          j.readJournal();
          start(j);
          resumed++;
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read the batches in " + batchDir, e);
    }
    return resumed;
  }

  @Override
  public void close() {
    closed = true;
    for (Job j : jobs.values()) {
      Thread t = j.thread;
      if (t != null) {
        t.interrupt();
      }
    }
    for (Job j : jobs.values()) {
      Thread t = j.thread;
      if (t != null) {
        try {
          t.join(5_000);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          return;
        }
      }
    }
  }

  // ---- files ----

  /** A file's record; {@code tenant} is never shown. */
  record FileRecord(
      String id, String tenant, String filename, String purpose, long bytes, long createdAt) {}

  /** {@code POST /v1/files}: multipart form with {@code purpose} (batch) and {@code file}. */
  ObjectNode upload(Context ctx, String tenant) throws IOException {
    long declared = ctx.req().getContentLengthLong();
    if (declared > settings.maxFileBytes() + 64 * 1024) {
      throw fileTooLarge(declared);
    }
    if (!ctx.isMultipartFormData()) {
      throw new ApiError(
          400,
          ApiError.INVALID_REQUEST,
          null,
          "invalid_request",
          "POST /v1/files takes multipart/form-data with the fields 'purpose' (batch) and 'file'"
              + " (a JSONL file)");
    }
    String purpose = ctx.formParam("purpose");
    if (purpose == null || purpose.isBlank()) {
      throw ApiError.badParam("purpose", "'purpose' is required: 'batch'");
    }
    if (!purpose.equals("batch")) {
      throw ApiError.unsupported(
          "purpose", "files are kept for the Batch API only: purpose 'batch'");
    }
    UploadedFile f = ctx.uploadedFile("file");
    if (f == null) {
      throw ApiError.badParam("file", "'file' is required: the JSONL file of the batch's requests");
    }
    if (f.size() > settings.maxFileBytes()) {
      throw fileTooLarge(f.size());
    }
    FileRecord r;
    try (InputStream in = f.content()) {
      r = store(tenant, f.filename() == null ? "file.jsonl" : f.filename(), "batch", in);
    }
    return fileJson(r);
  }

  private ApiError fileTooLarge(long bytes) {
    return new ApiError(
        413,
        ApiError.INVALID_REQUEST,
        "file",
        "file_too_large",
        "the file is "
            + bytes
            + " bytes, over this server's limit of "
            + settings.maxFileBytes()
            + " ("
            + GatewayConfig.BATCH_MAX_FILE_BYTES
            + "): split it into several batches");
  }

  private FileRecord store(String tenant, String filename, String purpose, InputStream in)
      throws IOException {
    String id = "file-" + randomHex();
    Path tmp = files.resolve(id + ".tmp");
    long bytes = Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
    Files.move(tmp, files.resolve(id + ".data"), StandardCopyOption.ATOMIC_MOVE);
    FileRecord r = new FileRecord(id, tenant, filename, purpose, bytes, clockMs.getAsLong() / 1000);
    writeAtomically(files.resolve(id + ".json"), json.valueToTree(r));
    return r;
  }

  private FileRecord storeLines(String tenant, String filename, List<ObjectNode> out)
      throws IOException {
    StringBuilder b = new StringBuilder();
    for (ObjectNode line : out) {
      b.append(json.writeValueAsString(line)).append('\n');
    }
    return store(
        tenant,
        filename,
        "batch_output",
        new java.io.ByteArrayInputStream(b.toString().getBytes(StandardCharsets.UTF_8)));
  }

  /** The tenant's file {@code id}; 404 when there is none. */
  FileRecord file(String id, String tenant) {
    Path p = files.resolve(safeName(id, "file") + ".json");
    try {
      FileRecord r = json.readValue(p.toFile(), FileRecord.class);
      if (r.tenant().equals(tenant)) {
        return r;
      }
    } catch (NoSuchFileException | java.io.FileNotFoundException e) {
      // answered below
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + p, e);
    }
    throw new ApiError(
        404,
        ApiError.INVALID_REQUEST,
        "file_id",
        "file_not_found",
        "no file '" + id + "' of this API key's tenant (GET /v1/files lists them)");
  }

  ObjectNode fileJson(FileRecord r) {
    ObjectNode o = json.createObjectNode();
    o.put("id", r.id());
    o.put("object", "file");
    o.put("bytes", r.bytes());
    o.put("created_at", r.createdAt());
    o.put("filename", r.filename());
    o.put("purpose", r.purpose());
    o.put("status", "processed");
    return o;
  }

  /** {@code GET /v1/files}: the tenant's files, newest first. */
  ObjectNode listFiles(String tenant) throws IOException {
    List<FileRecord> mine = new ArrayList<>();
    try (DirectoryStream<Path> all = Files.newDirectoryStream(files, "*.json")) {
      for (Path p : all) {
        FileRecord r = json.readValue(p.toFile(), FileRecord.class);
        if (r.tenant().equals(tenant)) {
          mine.add(r);
        }
      }
    }
    mine.sort(Comparator.comparingLong(FileRecord::createdAt).reversed());
    ObjectNode list = json.createObjectNode();
    list.put("object", "list");
    ArrayNode data = list.putArray("data");
    mine.forEach(r -> data.add(fileJson(r)));
    list.put("has_more", false);
    return list;
  }

  Path content(FileRecord r) {
    return files.resolve(r.id() + ".data");
  }

  /** {@code DELETE /v1/files/{id}}. */
  ObjectNode delete(String id, String tenant) throws IOException {
    FileRecord r = file(id, tenant);
    Files.deleteIfExists(files.resolve(r.id() + ".json"));
    Files.deleteIfExists(content(r));
    ObjectNode o = json.createObjectNode();
    o.put("id", r.id());
    o.put("object", "file");
    o.put("deleted", true);
    return o;
  }

  // ---- batches ----

  /** {@code POST /v1/batches}. */
  ObjectNode create(String tenant, ObjectNode body) throws IOException {
    JsonNode input = body.get("input_file_id");
    if (input == null || !input.isTextual() || input.asText().isBlank()) {
      throw ApiError.badParam(
          "input_file_id", "'input_file_id' is required: the id POST /v1/files answered");
    }
    JsonNode endpoint = body.get("endpoint");
    if (endpoint == null || !endpoint.isTextual() || !ENDPOINTS.contains(endpoint.asText())) {
      throw ApiError.badParam(
          "endpoint",
          "'endpoint' must be '/v1/completions' or '/v1/chat/completions', got " + endpoint);
    }
    JsonNode window = body.get("completion_window");
    if (window == null || !window.isTextual() || !window.asText().equals(WINDOW)) {
      throw ApiError.badParam(
          "completion_window", "'completion_window' must be '24h' (the only one), got " + window);
    }
    JsonNode metadata = body.get("metadata");
    if (metadata != null && !metadata.isNull() && !metadata.isObject()) {
      throw ApiError.badParam("metadata", "'metadata' must be an object of strings");
    }
    FileRecord f = file(input.asText(), tenant);
    if (!f.purpose().equals("batch")) {
      throw ApiError.badParam(
          "input_file_id",
          "the file '" + f.id() + "' has purpose '" + f.purpose() + "': upload one with 'batch'");
    }
    if (closed) {
      throw new ApiError(
          503, ApiError.SERVER, null, "unavailable", "the gateway is stopping; try again");
    }
    long now = clockMs.getAsLong() / 1000;
    Job j =
        new Job(
            this,
            "batch_" + randomHex(),
            tenant,
            endpoint.asText(),
            f.id(),
            metadata == null || metadata.isNull() ? null : (ObjectNode) metadata,
            now,
            now + Duration.ofHours(24).toSeconds());
    jobs.put(j.id, j);
    j.save();
    ObjectNode created = j.toJson(false); // as created: its runner may change it at once
    start(j);
    return created;
  }

  /** The tenant's batch {@code id}; 404 when there is none. */
  Job get(String id, String tenant) {
    Job j = jobs.get(id);
    if (j == null || !j.tenant.equals(tenant)) {
      throw new ApiError(
          404,
          ApiError.INVALID_REQUEST,
          "batch_id",
          "batch_not_found",
          "no batch '" + id + "' of this API key's tenant (GET /v1/batches lists them)");
    }
    return j;
  }

  /**
   * {@code POST /v1/batches/{id}/cancel}: the batch as the cancel left it ({@code cancelling}); a
   * batch cancelled before is answered as it is now (cancelling, finalizing or cancelled); 409 when
   * it ended or began finalizing otherwise. The answer is read under the batch's lock: its runner
   * may go on to finalizing as soon as the lock is let go.
   */
  ObjectNode cancel(String id, String tenant) {
    Job j = get(id, tenant);
    synchronized (j) {
      if (!j.status.equals("validating") && !j.status.equals("in_progress")) {
        if (j.cancellingAt != null) {
          return j.toJson(false);
        }
        throw new ApiError(
            409,
            ApiError.INVALID_REQUEST,
            null,
            "batch_not_cancellable",
            "the batch '" + id + "' is " + j.status + ": only a running batch can be cancelled");
      }
      j.status = "cancelling";
      j.cancellingAt = clockMs.getAsLong() / 1000;
      j.save();
      j.inFlight.keySet().forEach(r -> lines.cancel(tenant, r));
      j.notifyAll();
      return j.toJson(false);
    }
  }

  /**
   * {@code GET /v1/batches}: the tenant's batches, newest first, {@code limit} after {@code after}.
   */
  ObjectNode list(String tenant, String after, int limit) {
    List<Job> mine =
        jobs.values().stream()
            .filter(j -> j.tenant.equals(tenant))
            .sorted(
                Comparator.comparingLong((Job j) -> j.createdAt)
                    .reversed()
                    .thenComparing(j -> j.id))
            .toList();
    int from = 0;
    if (after != null) {
      for (int i = 0; i < mine.size(); i++) {
        if (mine.get(i).id.equals(after)) {
          from = i + 1;
        }
      }
    }
    List<Job> page = mine.subList(from, Math.min(mine.size(), from + limit));
    ObjectNode list = json.createObjectNode();
    list.put("object", "list");
    ArrayNode data = list.putArray("data");
    page.forEach(j -> data.add(j.toJson(false)));
    list.put("first_id", page.isEmpty() ? null : page.getFirst().id);
    list.put("last_id", page.isEmpty() ? null : page.getLast().id);
    list.put("has_more", from + page.size() < mine.size());
    return list;
  }

  private void start(Job j) {
    j.thread = Thread.ofVirtual().name("batch-" + j.id).start(j::run);
  }

  private String randomHex() {
    byte[] b = new byte[12];
    random.nextBytes(b);
    return HexFormat.of().formatHex(b);
  }

  /** An id as a file name: 404 for one that could leave the folder. */
  private static String safeName(String id, String what) {
    if (!id.matches("[A-Za-z0-9_-]{1,100}")) {
      throw new ApiError(
          404,
          ApiError.INVALID_REQUEST,
          what + "_id",
          what + "_not_found",
          "no " + what + " '" + id + "'");
    }
    return id;
  }

  private void writeAtomically(Path target, JsonNode value) throws IOException {
    Path tmp = target.resolveSibling(target.getFileName() + ".tmp");
    json.writeValue(tmp.toFile(), value);
    Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
  }

  // ---- one batch ----

  /** One batch: its state (guarded by itself), its journal and the thread that runs it. */
  static final class Job {
    final Batches owner;
    final String id;
    final String tenant;
    final String endpoint;
    final String inputFileId;
    final ObjectNode metadata;
    final long createdAt;
    final long expiresAt;
    String status = "validating";
    Long inProgressAt;
    Long finalizingAt;
    Long completedAt;
    Long failedAt;
    Long expiredAt;
    Long cancellingAt;
    Long cancelledAt;
    String outputFileId;
    String errorFileId;
    ArrayNode errors;
    int total;
    int completed;
    int failed;

    /** Result of each line answered, by line number (1-based) in the input file. */
    final Map<Integer, ObjectNode> done = new HashMap<>();

    /** Request ids in flight, to their line numbers. */
    final Map<String, Integer> inFlight = new ConcurrentHashMap<>();

    volatile Thread thread;
    private BufferedWriter journal;

    Job(
        Batches owner,
        String id,
        String tenant,
        String endpoint,
        String inputFileId,
        ObjectNode metadata,
        long createdAt,
        long expiresAt) {
      this.owner = owner;
      this.id = id;
      this.tenant = tenant;
      this.endpoint = endpoint;
      this.inputFileId = inputFileId;
      this.metadata = metadata;
      this.createdAt = createdAt;
      this.expiresAt = expiresAt;
    }

    private Path journalPath() {
      return owner.batchDir.resolve(id + ".results.jsonl");
    }

    /** The batch object; {@code internal} adds what only the gateway keeps (the tenant). */
    synchronized ObjectNode toJson(boolean internal) {
      ObjectNode o = owner.json.createObjectNode();
      o.put("id", id);
      o.put("object", "batch");
      o.put("endpoint", endpoint);
      if (errors == null) {
        o.putNull("errors");
      } else {
        ObjectNode e = o.putObject("errors");
        e.put("object", "list");
        e.set("data", errors.deepCopy());
      }
      o.put("input_file_id", inputFileId);
      o.put("completion_window", WINDOW);
      o.put("status", status);
      o.put("output_file_id", outputFileId);
      o.put("error_file_id", errorFileId);
      o.put("created_at", createdAt);
      o.put("in_progress_at", inProgressAt);
      o.put("expires_at", expiresAt);
      o.put("finalizing_at", finalizingAt);
      o.put("completed_at", completedAt);
      o.put("failed_at", failedAt);
      o.put("expired_at", expiredAt);
      o.put("cancelling_at", cancellingAt);
      o.put("cancelled_at", cancelledAt);
      ObjectNode counts = o.putObject("request_counts");
      counts.put("total", total);
      counts.put("completed", completed);
      counts.put("failed", failed);
      if (metadata == null) {
        o.putNull("metadata");
      } else {
        o.set("metadata", metadata.deepCopy());
      }
      if (internal) {
        o.put("tenant", tenant);
      }
      return o;
    }

    static Job load(Batches owner, ObjectNode o) {
      Job j =
          new Job(
              owner,
              o.get("id").asText(),
              o.get("tenant").asText(),
              o.get("endpoint").asText(),
              o.get("input_file_id").asText(),
              o.get("metadata").isObject() ? (ObjectNode) o.get("metadata") : null,
              o.get("created_at").asLong(),
              o.get("expires_at").asLong());
      j.status = o.get("status").asText();
      j.inProgressAt = time(o, "in_progress_at");
      j.finalizingAt = time(o, "finalizing_at");
      j.completedAt = time(o, "completed_at");
      j.failedAt = time(o, "failed_at");
      j.expiredAt = time(o, "expired_at");
      j.cancellingAt = time(o, "cancelling_at");
      j.cancelledAt = time(o, "cancelled_at");
      j.outputFileId =
          o.path("output_file_id").isTextual() ? o.get("output_file_id").asText() : null;
      j.errorFileId = o.path("error_file_id").isTextual() ? o.get("error_file_id").asText() : null;
      j.errors =
          o.path("errors").path("data").isArray() ? (ArrayNode) o.get("errors").get("data") : null;
      j.total = o.path("request_counts").path("total").asInt();
      j.completed = o.path("request_counts").path("completed").asInt();
      j.failed = o.path("request_counts").path("failed").asInt();
      return j;
    }

    private static Long time(ObjectNode o, String field) {
      JsonNode n = o.get(field);
      return n == null || n.isNull() ? null : n.asLong();
    }

    synchronized void save() {
      try {
        owner.writeAtomically(owner.batchDir.resolve(id + ".json"), toJson(true));
      } catch (IOException e) {
        throw new UncheckedIOException("cannot write batch " + id, e);
      }
    }

    /** Results of an earlier run from the journal; a torn last line is skipped (sent again). */
    synchronized void readJournal() throws IOException {
      List<String> kept;
      try {
        kept = Files.readAllLines(journalPath(), StandardCharsets.UTF_8);
      } catch (NoSuchFileException e) {
        return;
      }
      for (String line : kept) {
        try {
          JsonNode n = owner.json.readTree(line);
          if (n != null && n.isObject() && n.path("line").isInt() && n.path("out").isObject()) {
            done.put(n.get("line").asInt(), (ObjectNode) n);
          }
        } catch (IOException e) {
          // a line torn by a crash: its request is sent again
        }
      }
      completed = (int) done.values().stream().filter(n -> n.path("ok").asBoolean()).count();
      failed = done.size() - completed;
    }

    /** Records one line's result: journal first (flushed), then the counts. */
    synchronized void record(int line, boolean ok, ObjectNode out) {
      if (owner.closed || done.containsKey(line)) {
        return; // a stopping gateway's answers are not kept: the line runs again at the restart
      }
      ObjectNode entry = owner.json.createObjectNode();
      entry.put("line", line);
      entry.put("ok", ok);
      entry.set("out", out);
      try {
        if (journal == null) {
          journal =
              Files.newBufferedWriter(
                  journalPath(),
                  StandardCharsets.UTF_8,
                  StandardOpenOption.CREATE,
                  StandardOpenOption.APPEND);
        }
        journal.write(owner.json.writeValueAsString(entry));
        journal.write('\n');
        journal.flush();
      } catch (IOException e) {
        throw new UncheckedIOException("cannot append to " + journalPath(), e);
      }
      done.put(line, entry);
      if (ok) {
        completed++;
      } else {
        failed++;
      }
      notifyAll();
    }

    private synchronized boolean cancelled() {
      return cancellingAt != null;
    }

    private synchronized boolean stopping() {
      return cancellingAt != null || owner.closed || owner.clockMs.getAsLong() / 1000 >= expiresAt;
    }

    /** The input's non-blank lines by line number (1-based). */
    private TreeMap<Integer, String> input() throws IOException {
      TreeMap<Integer, String> in = new TreeMap<>();
      Path p = owner.files.resolve(inputFileId + ".data");
      List<String> all;
      try {
        all = Files.readAllLines(p, StandardCharsets.UTF_8);
      } catch (NoSuchFileException e) {
        return null;
      }
      for (int i = 0; i < all.size(); i++) {
        if (!all.get(i).isBlank()) {
          in.put(i + 1, all.get(i));
        }
      }
      return in;
    }

    void run() {
      try {
        TreeMap<Integer, String> in;
        try {
          in = input();
        } catch (java.nio.charset.MalformedInputException e) {
          fail("invalid_file", "the input file is not UTF-8 text: upload a JSONL file");
          return;
        }
        if (in == null) {
          fail("file_not_found", "the input file '" + inputFileId + "' was deleted");
          return;
        }
        if (in.isEmpty()) {
          fail("empty_file", "the input file has no requests: one JSON object a line");
          return;
        }
        if (in.size() > MAX_LINES) {
          fail(
              "too_many_requests",
              "the input file has "
                  + in.size()
                  + " requests, over the "
                  + MAX_LINES
                  + " of one batch: split it");
          return;
        }
        synchronized (this) {
          total = in.size();
          if (status.equals("validating")) {
            status = "in_progress";
            inProgressAt = owner.clockMs.getAsLong() / 1000;
          }
          save();
        }
        Map<String, Integer> firstLineOf = new HashMap<>();
        Semaphore permits = new Semaphore(owner.settings.concurrency());
        for (var e : in.entrySet()) {
          int line = e.getKey();
          Line parsed = parse(line, e.getValue(), firstLineOf);
          synchronized (this) {
            if (done.containsKey(line)) {
              continue;
            }
          }
          if (stopping()) {
            break;
          }
          if (parsed.error() != null) {
            record(line, false, parsed.error());
            continue;
          }
          Gateway.Prepared p;
          try {
            p = owner.lines.prepare(tenant, parsed.body(), endpoint.equals("/v1/chat/completions"));
          } catch (ApiError err) {
            record(line, false, owner.response(parsed.customId(), null, err.status, err.body()));
            continue;
          }
          if (p.body().stream()) {
            record(
                line,
                false,
                owner.response(
                    parsed.customId(),
                    null,
                    400,
                    ApiError.unsupported("stream", "a batch's requests are not streamed").body()));
            continue;
          }
          permits.acquire();
          if (stopping()) {
            permits.release();
            break;
          }
          InferenceRequest.Builder request = p.request().setPriority(Priorities.BULK);
          String requestId = request.getRequestId();
          inFlight.put(requestId, line);
          CompletableFuture<InferenceResult> f;
          try {
            f = owner.lines.submit(request, owner.settings.requestTimeout());
          } catch (RuntimeException ex) {
            f = CompletableFuture.failedFuture(ex);
          }
          if (cancelled() && !f.isDone()) {
            // a cancel between the check above and the submit did not find this request pending
            owner.lines.cancel(tenant, requestId);
          }
          String customId = parsed.customId();
          f.whenComplete(
              (r, t) -> {
                try {
                  inFlight.remove(requestId);
                  ApiError err = t != null ? owner.lines.failure(t) : Gateway.errorOf(r);
                  if (err == null) {
                    record(
                        line,
                        true,
                        owner.response(
                            customId, requestId, 200, p.shape().completion(owner.json, r)));
                  } else {
                    record(
                        line, false, owner.response(customId, requestId, err.status, err.body()));
                  }
                } finally {
                  permits.release();
                }
              });
        }
        permits.acquire(owner.settings.concurrency()); // every request answered
        if (owner.closed) {
          return;
        }
        finish(in, firstLineOf);
      } catch (InterruptedException e) {
        // the gateway stops: the journal has what was answered; the rest runs at its restart
      } catch (IOException | RuntimeException e) {
        if (!owner.closed) {
          System.err.println("gateway: batch " + id + " failed: " + e);
          fail("internal_error", "the batch failed in the gateway (" + e + ")");
        }
      } finally {
        synchronized (this) {
          closeJournal();
        }
      }
    }

    /** Writes the output and error files in input order and ends the batch. */
    private void finish(TreeMap<Integer, String> in, Map<String, Integer> firstLineOf)
        throws IOException {
      String end;
      synchronized (this) {
        end =
            cancellingAt != null
                ? "cancelled"
                : owner.clockMs.getAsLong() / 1000 >= expiresAt ? "expired" : "completed";
        status = "finalizing";
        finalizingAt = owner.clockMs.getAsLong() / 1000;
        save();
      }
      List<ObjectNode> ok = new ArrayList<>();
      List<ObjectNode> bad = new ArrayList<>();
      synchronized (this) {
        for (var e : in.entrySet()) {
          ObjectNode entry = done.get(e.getKey());
          if (entry != null) {
            (entry.get("ok").asBoolean() ? ok : bad).add((ObjectNode) entry.get("out"));
          } else {
            String customId = parse(e.getKey(), e.getValue(), new HashMap<>()).customId();
            String code = end.equals("expired") ? "batch_expired" : "batch_cancelled";
            bad.add(
                owner.lineError(
                    customId,
                    code,
                    "line "
                        + e.getKey()
                        + " was not run: the batch was "
                        + (end.equals("expired") ? "not done within 24h" : "cancelled")));
            failed++;
          }
        }
      }
      String out = ok.isEmpty() ? null : owner.storeLines(tenant, id + "_output.jsonl", ok).id();
      String err = bad.isEmpty() ? null : owner.storeLines(tenant, id + "_error.jsonl", bad).id();
      synchronized (this) {
        outputFileId = out;
        errorFileId = err;
        status = end;
        long now = owner.clockMs.getAsLong() / 1000;
        switch (end) {
          case "cancelled" -> cancelledAt = now;
          case "expired" -> expiredAt = now;
          default -> completedAt = now;
        }
        save();
        notifyAll();
      }
    }

    private synchronized void fail(String code, String message) {
      errors = owner.json.createArrayNode();
      ObjectNode e = errors.addObject();
      e.put("code", code);
      e.put("message", message);
      e.putNull("param");
      e.putNull("line");
      status = "failed";
      failedAt = owner.clockMs.getAsLong() / 1000;
      save();
      notifyAll();
    }

    private void closeJournal() {
      if (journal != null) {
        try {
          journal.close();
        } catch (IOException e) {
          System.err.println("gateway: closing the journal of batch " + id + ": " + e);
        }
        journal = null;
      }
    }

    /** A line read: its custom id (null when it has none) and body, or its error result. */
    private record Line(String customId, ObjectNode body, ObjectNode error) {}

    private Line parse(int line, String text, Map<String, Integer> firstLineOf) {
      if (text.getBytes(StandardCharsets.UTF_8).length > owner.maxLineBytes) {
        return new Line(
            null,
            null,
            owner.lineError(
                null,
                "request_too_large",
                "line "
                    + line
                    + " is over this server's body limit of "
                    + owner.maxLineBytes
                    + " bytes ("
                    + GatewayConfig.MAX_BODY_BYTES
                    + ")"));
      }
      JsonNode n;
      try {
        n = owner.json.readTree(text);
      } catch (IOException e) {
        return new Line(
            null, null, owner.lineError(null, "invalid_json", "line " + line + " is not JSON"));
      }
      if (n == null || !n.isObject()) {
        return new Line(
            null,
            null,
            owner.lineError(null, "invalid_json", "line " + line + " is not a JSON object"));
      }
      JsonNode cid = n.get("custom_id");
      if (cid == null || !cid.isTextual() || cid.asText().isEmpty()) {
        return new Line(
            null,
            null,
            owner.lineError(
                null,
                "missing_custom_id",
                "line " + line + " has no 'custom_id' (a string naming the request)"));
      }
      String customId = cid.asText();
      Integer first = firstLineOf.putIfAbsent(customId, line);
      if (first != null && first != line) {
        return new Line(
            customId,
            null,
            owner.lineError(
                customId,
                "duplicate_custom_id",
                "line " + line + " repeats the custom_id of line " + first + ": make them unique"));
      }
      JsonNode method = n.get("method");
      if (method != null && !(method.isTextual() && method.asText().equals("POST"))) {
        return new Line(
            customId,
            null,
            owner.lineError(
                customId, "invalid_method", "line " + line + ": 'method' must be POST"));
      }
      JsonNode url = n.get("url");
      if (url == null || !url.isTextual() || !url.asText().equals(endpoint)) {
        return new Line(
            customId,
            null,
            owner.lineError(
                customId,
                "mismatched_url",
                "line "
                    + line
                    + ": 'url' must be the batch's endpoint "
                    + endpoint
                    + ", got "
                    + url));
      }
      JsonNode body = n.get("body");
      if (body == null || !body.isObject()) {
        return new Line(
            customId,
            null,
            owner.lineError(
                customId, "invalid_body", "line " + line + ": 'body' must be a JSON object"));
      }
      return new Line(customId, (ObjectNode) body, null);
    }
  }

  /** A result line with the response: status and body (a completion, or an error). */
  private ObjectNode response(String customId, String requestId, int status, ObjectNode body) {
    ObjectNode o = json.createObjectNode();
    o.put("id", "batch_req_" + (requestId != null ? requestId.replace("-", "") : randomHex()));
    o.put("custom_id", customId);
    ObjectNode r = o.putObject("response");
    r.put("status_code", status);
    r.put("request_id", requestId);
    r.set("body", body);
    o.putNull("error");
    return o;
  }

  /** A result line of a line that was not sent: no response, the error. */
  private ObjectNode lineError(String customId, String code, String message) {
    ObjectNode o = json.createObjectNode();
    o.put("id", "batch_req_" + randomHex());
    o.put("custom_id", customId);
    o.putNull("response");
    ObjectNode e = o.putObject("error");
    e.put("code", code);
    e.put("message", message);
    return o;
  }
}
