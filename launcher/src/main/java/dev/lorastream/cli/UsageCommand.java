package dev.lorastream.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.lorastream.schemas.TenantUsage;
import dev.lorastream.schemas.Tenants;
import dev.lorastream.schemas.Topics;
import dev.lorastream.schemas.UsageKey;
import dev.lorastream.schemas.UsageTopic;
import java.io.PrintWriter;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.time.format.DateTimeParseException;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.kafka.common.errors.TopicAuthorizationException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code lorastream usage --tenant T --since WHEN}: a tenant's tokens per adapter, summed from the
 * consumers' exactly-once counts on {@code lora.usage} (read_committed), over the hours from the
 * one holding {@code WHEN} to now. An operator reads {@code lora.usage} (every tenant's); in topics
 * tenancy a tenant's principal, which may not, reads its own copy {@code lora.tenant.<t>.usage},
 * and is refused another tenant's.
 *
 * <p>Exit codes: 0 printed (also when the tenant has no usage); 2 a bad argument, or Kafka / the
 * registry could not be reached or the topic is missing.
 */
@Command(
    name = "usage",
    mixinStandardHelpOptions = true,
    description =
        "A tenant's requests and tokens per adapter since a time, from lora.usage (counted"
            + " exactly once by the inference consumers, per hour).")
final class UsageCommand implements Callable<Integer> {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Pattern AGO = Pattern.compile("(\\d+)([mhd])");

  @Spec CommandSpec spec;
  @Mixin AdaptersCommand.Connection connection;

  @Option(names = "--tenant", required = true, description = "Whose usage.")
  String tenant;

  @Option(
      names = "--since",
      defaultValue = "24h",
      paramLabel = "WHEN",
      description =
          "From when: an instant (2026-12-01T00:00:00Z), a UTC date (2026-12-01) or a time ago"
              + " (90m, 24h, 30d); counts are per hour, so the hour holding it counts whole"
              + " (default: ${DEFAULT-VALUE}).")
  String since;

  @Option(names = "--json", description = "One JSON object per adapter, then the total.")
  boolean json;

  private final Clock clock;

  UsageCommand() {
    this(Clock.systemUTC());
  }

  UsageCommand(Clock clock) {
    this.clock = clock;
  }

  @Override
  public Integer call() {
    PrintWriter out = spec.commandLine().getOut();
    PrintWriter err = spec.commandLine().getErr();
    long sinceMs;
    try {
      Tenants.requireName(tenant);
      sinceMs = parseSince(since, clock.instant());
    } catch (IllegalArgumentException e) {
      err.println("usage: " + e.getMessage());
      return 2;
    }
    List<UsageTopic.Total> totals;
    try {
      totals = UsageTopic.totals(read(), tenant, sinceMs);
    } catch (TopicAuthorizationException e) {
      err.println(
          "usage: refused: this principal may read neither "
              + Topics.USAGE.name()
              + " (operators) nor "
              + Tenants.usageTopic(tenant)
              + " (tenant "
              + tenant
              + " itself): a tenant may see only its own usage; use --command-config with the"
              + " login of tenant "
              + tenant
              + " or of an operator");
      return 2;
    } catch (Exception e) {
      err.println(
          "usage: "
              + Topics.USAGE.name()
              + " could not be read: "
              + e.getMessage()
              + " (is Kafka at "
              + connection.bootstrapServers
              + " and the registry at "
              + connection.schemaRegistryUrl
              + "? in topics tenancy, use --command-config with a principal that may READ "
              + Topics.USAGE.name()
              + ")");
      return 2;
    }
    UsageTopic.Total total = new UsageTopic.Total("total", 0, 0, 0, 0);
    for (UsageTopic.Total t : totals) {
      total =
          new UsageTopic.Total(
              "total",
              total.requests() + t.requests(),
              total.errors() + t.errors(),
              total.promptTokens() + t.promptTokens(),
              total.completionTokens() + t.completionTokens());
    }
    Instant from = Instant.ofEpochMilli(UsageKey.windowStart(sinceMs));
    if (json) {
      for (UsageTopic.Total t : totals) {
        out.println(jsonLine(t.adapterId() == null ? "base" : t.adapterId(), t, from));
      }
      out.println(jsonLine("total", total, from));
    } else {
      out.println("usage of tenant " + tenant + " since " + from + " (whole hours):");
      out.println(row("adapter", "requests", "errors", "prompt_tokens", "completion_tokens"));
      for (UsageTopic.Total t : totals) {
        out.println(row(t.adapterId() == null ? "base" : t.adapterId(), t));
      }
      out.println(row("total", total));
    }
    out.flush();
    return 0;
  }

  /**
   * The usage records: from {@code lora.usage} (an operator: every tenant's), else, when this
   * principal may not read it, from the tenant's own {@code lora.tenant.<t>.usage} (topics tenancy:
   * a tenant reading its own).
   *
   * @throws TopicAuthorizationException when it may read neither
   */
  private List<TenantUsage> read() throws Exception {
    Duration timeout = Duration.ofSeconds(30);
    try {
      return UsageTopic.read(connection.kafka(), connection.serde(), timeout);
    } catch (TopicAuthorizationException e) {
      return UsageTopic.read(
          Tenants.usageTopic(tenant), connection.kafka(), connection.serde(), timeout);
    }
  }

  /**
   * The epoch milliseconds {@code since} names, relative to {@code now} for a time ago.
   *
   * @throws IllegalArgumentException saying which forms are understood
   */
  static long parseSince(String since, Instant now) {
    String s = since.trim().toLowerCase(Locale.ROOT);
    Matcher m = AGO.matcher(s);
    if (m.matches()) {
      long n = Long.parseLong(m.group(1));
      Duration d =
          switch (m.group(2)) {
            case "m" -> Duration.ofMinutes(n);
            case "h" -> Duration.ofHours(n);
            default -> Duration.ofDays(n);
          };
      return now.minus(d).toEpochMilli();
    }
    try {
      return Instant.parse(since.trim()).toEpochMilli();
    } catch (DateTimeParseException e) {
      // not an instant: a date?
    }
    try {
      return LocalDate.parse(since.trim()).atStartOfDay(ZoneOffset.UTC).toInstant().toEpochMilli();
    } catch (DateTimeParseException e) {
      throw new IllegalArgumentException(
          "--since '"
              + since
              + "' is not understood: give an instant (2026-12-01T00:00:00Z), a UTC date"
              + " (2026-12-01) or a time ago (90m, 24h, 30d)");
    }
  }

  private static String row(String adapter, UsageTopic.Total t) {
    return row(
        adapter,
        Long.toString(t.requests()),
        Long.toString(t.errors()),
        Long.toString(t.promptTokens()),
        Long.toString(t.completionTokens()));
  }

  private static String row(String a, String r, String e, String p, String c) {
    return String.format(Locale.ROOT, "%-32s %10s %8s %14s %18s", a, r, e, p, c);
  }

  private String jsonLine(String adapter, UsageTopic.Total t, Instant from) {
    ObjectNode o = JSON.createObjectNode();
    o.put("tenant", tenant);
    o.put("adapter", adapter);
    o.put("since", from.toString());
    o.put("requests", t.requests());
    o.put("errors", t.errors());
    o.put("prompt_tokens", t.promptTokens());
    o.put("completion_tokens", t.completionTokens());
    return o.toString();
  }
}
