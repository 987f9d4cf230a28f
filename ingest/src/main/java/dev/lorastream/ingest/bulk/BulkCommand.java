package dev.lorastream.ingest.bulk;

import dev.lorastream.ingest.LoraClient;
import dev.lorastream.ingest.LoraClientConfig;
import dev.lorastream.ingest.PromptTokenizer;
import dev.lorastream.schemas.Priorities;
import dev.lorastream.schemas.Tenancy;
import dev.lorastream.schemas.Topics;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code lorastream bulk}: sends every document of a JSONL file through lorastream and writes the
 * results, in input order, to another JSONL file. Resumable: a rerun skips documents already
 * answered in the output (failed ones are sent again); see {@link ResultStore} for how partial
 * progress survives a crash.
 *
 * <p>Exit code 0 when every document succeeded; 1 when any failed (listed on stderr: id and error,
 * or line number for malformed lines); 2 when the run could not start (unreadable input, broker or
 * reply topic unreachable).
 */
@Command(
    name = "bulk",
    mixinStandardHelpOptions = true,
    description =
        "Process a JSONL file of documents ({\"id\",\"text\"} a line) through a LoRA adapter.")
public final class BulkCommand implements Callable<Integer> {

  @Spec CommandSpec spec;

  @Option(
      names = "--input",
      required = true,
      paramLabel = "FILE",
      description =
          "Documents, one JSON object a line: {\"id\": \"...\", \"text\": \"...\"}, "
              + "optional max_tokens, temperature.")
  Path input;

  @Option(
      names = "--output",
      required = true,
      paramLabel = "FILE",
      description = "Results, one JSON object a line, in input order. An existing file is resumed.")
  Path output;

  @Option(names = "--tenant", required = true, description = "Tenant the requests are billed to.")
  String tenant;

  @Option(names = "--adapter", description = "LoRA adapter id; omit for the base model.")
  String adapter;

  @Option(
      names = "--bootstrap-servers",
      defaultValue = "localhost:9092",
      description = "Kafka (default: ${DEFAULT-VALUE}).")
  String bootstrapServers;

  @Option(
      names = "--schema-registry-url",
      defaultValue = "http://localhost:8081",
      description = "Schema registry (default: ${DEFAULT-VALUE}).")
  String schemaRegistryUrl;

  @Option(
      names = "--reply-topic",
      description = "Reply topic to read (default: lora.replies; shared tenancy only).")
  String replyTopic = Topics.REPLIES.name();

  @Option(
      names = "--tenancy",
      defaultValue = "shared",
      description =
          "shared: send to lora.requests; topics: send to lora.tenant.<tenant>.requests and read"
              + " lora.tenant.<tenant>.replies, logged in as the tenant (default: ${DEFAULT-VALUE}).")
  String tenancy;

  @Option(
      names = "--command-config",
      paramLabel = "FILE",
      description =
          "Kafka client properties (security.protocol, sasl.mechanism, sasl.jaas.config, ...).")
  Path commandConfig;

  @Option(
      names = "--model",
      paramLabel = "DIR",
      description =
          "Model directory with tokenizer.json: send token ids so the batcher can count tokens.")
  Path model;

  @Option(
      names = "--concurrency",
      defaultValue = "64",
      description = "Requests in flight at most (default: ${DEFAULT-VALUE}).")
  int concurrency;

  @Option(
      names = "--timeout",
      defaultValue = "120s",
      converter = DurationConverter.class,
      description = "Wait per request, e.g. 90s, 5m, 500ms (default: ${DEFAULT-VALUE}).")
  Duration timeout;

  @Option(
      names = "--max-tokens",
      description = "max_tokens of lines that give none (default: the schema's, 16).")
  Integer maxTokens;

  @Option(
      names = "--temperature",
      description = "temperature of lines that give none (default: 0, greedy).")
  Float temperature;

  @Option(
      names = "--priority",
      defaultValue = "" + Priorities.BULK,
      description =
          "Scheduling priority of every request, in [-10, 10], higher first (default:"
              + " ${DEFAULT-VALUE}, below online traffic's 0).")
  int priority;

  /** Picocli instantiates it. */
  public BulkCommand() {}

  @Override
  public Integer call() throws Exception {
    PrintWriter err = spec.commandLine().getErr();
    BulkRun.Settings settings;
    JsonlInput docs;
    ResultStore store = new ResultStore(output);
    Map<String, ResultRow> previous;
    LoraClientConfig clientConfig;
    try {
      clientConfig = clientConfig();
      settings =
          new BulkRun.Settings(tenant, adapter, maxTokens, temperature, concurrency, priority);
      docs = JsonlInput.read(input);
      List<String> unreadable = new ArrayList<>();
      previous = store.readPrevious(unreadable);
      unreadable.forEach(u -> err.println("bulk: skipping unreadable result " + u));
    } catch (IOException e) {
      err.println(
          "bulk: cannot read " + e.getMessage() + " (" + e.getClass().getSimpleName() + ")");
      return 2;
    } catch (IllegalArgumentException e) {
      err.println("bulk: " + e.getMessage());
      return 2;
    }
    List<BulkDoc> todo = BulkRun.plan(docs.docs(), previous);
    int answered = docs.docs().size() - todo.size();
    err.printf(
        "bulk: %d documents in %s; %d already answered in %s; %d to send%s%n",
        docs.docs().size(),
        input,
        answered,
        output,
        todo.size(),
        docs.malformed().isEmpty() ? "" : "; " + docs.malformed().size() + " malformed lines");
    Map<String, ResultRow> fresh = Map.of();
    if (todo.stream()
        .noneMatch(d -> d.invalid() == null)) { // nothing to send: no need for a broker
      fresh =
          BulkRun.execute(
              todo,
              settings,
              r -> {
                throw new IllegalStateException("nothing is sent");
              },
              store::append,
              new Progress(
                  todo.size(), new PrintWriter(PrintWriter.nullWriter()), false, System::nanoTime));
    } else {
      try (PromptTokenizer tokenizer = model == null ? null : PromptTokenizer.load(model);
          LoraClient client = new LoraClient(clientConfig, tokenizer, null)) {
        Progress progress = new Progress(todo.size(), err, isTerminal(), System::nanoTime);
        try {
          fresh =
              BulkRun.execute(
                  todo, settings, r -> client.submit(r, timeout), store::append, progress);
        } finally {
          progress.finish();
        }
      } catch (RuntimeException e) {
        err.println("bulk: cannot run: " + e.getMessage());
        store.close();
        return 2;
      }
    }
    BulkRun.Outcome outcome = BulkRun.assemble(docs, previous, fresh);
    store.writeFinal(outcome.rows());
    return report(outcome, err);
  }

  private int report(BulkRun.Outcome outcome, PrintWriter err) {
    int ok = (int) outcome.rows().stream().filter(ResultRow::ok).count();
    err.printf(
        "bulk: %d answered, %d failed; results in %s%n", ok, outcome.failures().size(), output);
    if (outcome.failures().isEmpty()) {
      err.flush();
      return 0;
    }
    err.println("bulk: failures (rerun the same command to retry them):");
    outcome.failures().forEach(f -> err.println("  " + f));
    err.flush();
    return 1;
  }

  /**
   * The client's settings from the options.
   *
   * @throws IOException when {@code --command-config} cannot be read
   * @throws IllegalArgumentException for a bad {@code --tenancy} or tenant name
   */
  LoraClientConfig clientConfig() throws IOException {
    LoraClientConfig c =
        LoraClientConfig.of(bootstrapServers, schemaRegistryUrl)
            .withReplyTopic(replyTopic)
            .withClientId("lorastream-bulk-" + ProcessHandle.current().pid())
            .withDefaultTimeout(timeout);
    if (Tenancy.parse("--tenancy", tenancy) == Tenancy.TOPICS) {
      c = c.forTenant(tenant);
    }
    if (commandConfig != null) {
      Properties p = new Properties();
      try (Reader r = Files.newBufferedReader(commandConfig)) {
        p.load(r);
      }
      Map<String, Object> overrides = new HashMap<>();
      p.stringPropertyNames().forEach(k -> overrides.put(k, p.getProperty(k)));
      c = c.withKafkaOverrides(overrides);
    }
    return c;
  }

  private static boolean isTerminal() {
    var console = System.console();
    return console != null && console.isTerminal();
  }

  /** {@code 500ms}, {@code 90s}, {@code 5m}, {@code 1h}, or a plain number of seconds. */
  static final class DurationConverter implements ITypeConverter<Duration> {
    @Override
    public Duration convert(String value) {
      String v = value.trim().toLowerCase(Locale.ROOT);
      Duration d;
      if (v.endsWith("ms")) {
        d = Duration.ofMillis(Long.parseLong(v.substring(0, v.length() - 2)));
      } else if (v.endsWith("s")) {
        d = Duration.ofSeconds(Long.parseLong(v.substring(0, v.length() - 1)));
      } else if (v.endsWith("m")) {
        d = Duration.ofMinutes(Long.parseLong(v.substring(0, v.length() - 1)));
      } else if (v.endsWith("h")) {
        d = Duration.ofHours(Long.parseLong(v.substring(0, v.length() - 1)));
      } else {
        d = Duration.ofSeconds(Long.parseLong(v));
      }
      if (d.isNegative() || d.isZero()) {
        throw new IllegalArgumentException("must be > 0: " + value);
      }
      return d;
    }
  }
}
