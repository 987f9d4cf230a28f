package dev.lorastream.schemas;

import io.opentelemetry.api.OpenTelemetry;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanContext;
import io.opentelemetry.api.trace.propagation.W3CTraceContextPropagator;
import io.opentelemetry.context.Context;
import io.opentelemetry.context.propagation.TextMapGetter;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;

/**
 * W3C trace context through the pipeline, with OpenTelemetry. A traced request carries its context
 * twice: in its record's Kafka headers ({@code traceparent}, {@code tracestate}), for any
 * OpenTelemetry-aware reader, and in {@code InferenceRequest.traceContext}, which travels inside
 * the batch (one record of many requests, so headers cannot carry each one's context) to the
 * consumer. The batcher copies the headers into the field when a producer set only the headers.
 *
 * <p>Spans, all children of the client's {@code lorastream.request} span: {@code queue} (batcher:
 * created to the batch closing), {@code batch} (consumer: batch closed to read), {@code admission}
 * (read to scheduled), {@code prefill} (to the first token), {@code decode} (to the last), {@code
 * commit} (to the reply's transaction committed), with attributes {@link #TENANT}, {@link #ADAPTER}
 * and {@link #BATCH_ID}.
 *
 * <p>Export is off by default: {@link #forService} exports over OTLP only when {@code
 * OTEL_EXPORTER_OTLP_ENDPOINT} (or {@code -Dotel.exporter.otlp.endpoint}) is set, OpenTelemetry's
 * own variables.
 */
public final class Tracing {
  public static final String TRACEPARENT = "traceparent";
  public static final String TRACESTATE = "tracestate";

  /** The instrumentation scope of lorastream's spans. */
  public static final String SCOPE = "dev.lorastream";

  public static final AttributeKey<String> TENANT = AttributeKey.stringKey("lorastream.tenant");
  public static final AttributeKey<String> ADAPTER = AttributeKey.stringKey("lorastream.adapter");
  public static final AttributeKey<String> BATCH_ID = AttributeKey.stringKey("lorastream.batch.id");
  public static final AttributeKey<String> REQUEST_ID =
      AttributeKey.stringKey("lorastream.request.id");

  private static final TextMapGetter<Map<String, String>> MAP =
      new TextMapGetter<>() {
        @Override
        public Iterable<String> keys(Map<String, String> carrier) {
          return carrier.keySet();
        }

        @Override
        public String get(Map<String, String> carrier, String key) {
          return carrier == null ? null : carrier.get(key);
        }
      };

  private Tracing() {}

  /** What a trace context map says. */
  public sealed interface Parent {
    /** No {@code traceparent}: the request is not traced. */
    record None() implements Parent {}

    /** A {@code traceparent} that is not W3C's format: ignored (and counted by the reader). */
    record Malformed(String traceparent) implements Parent {}

    /** A valid parent. */
    record Of(Context context) implements Parent {}
  }

  /** The parent in {@code traceContext} ({@code InferenceRequest.traceContext}). */
  public static Parent parent(Map<String, String> traceContext) {
    if (traceContext == null || !traceContext.containsKey(TRACEPARENT)) {
      return new Parent.None();
    }
    Context c = W3CTraceContextPropagator.getInstance().extract(Context.root(), traceContext, MAP);
    SpanContext s = Span.fromContext(c).getSpanContext();
    return s.isValid() ? new Parent.Of(c) : new Parent.Malformed(traceContext.get(TRACEPARENT));
  }

  /** The W3C fields of {@code span}'s context (empty when it is not valid, e.g. not sampled in). */
  public static Map<String, String> contextOf(Span span) {
    Map<String, String> m = new HashMap<>();
    if (span.getSpanContext().isValid()) {
      W3CTraceContextPropagator.getInstance()
          .inject(Context.root().with(span), m, (carrier, k, v) -> carrier.put(k, v));
    }
    return m;
  }

  /** Adds {@code traceContext}'s W3C fields to {@code headers} as UTF-8 headers. */
  public static void toHeaders(Map<String, String> traceContext, Headers headers) {
    for (String k : List.of(TRACEPARENT, TRACESTATE)) {
      String v = traceContext.get(k);
      if (v != null) {
        headers.remove(k);
        headers.add(k, v.getBytes(StandardCharsets.UTF_8));
      }
    }
  }

  /** The W3C fields among a record's {@code headers} (the last of each), or empty. */
  public static Map<String, String> fromHeaders(Headers headers) {
    if (headers == null) {
      return new HashMap<>();
    }
    return fromHeaders(
        k -> {
          Header h = headers.lastHeader(k);
          return h == null || h.value() == null
              ? null
              : new String(h.value(), StandardCharsets.UTF_8);
        });
  }

  /** The W3C fields that {@code header} (name to value, null when absent) has, or empty. */
  public static Map<String, String> fromHeaders(Function<String, String> header) {
    Map<String, String> m = new HashMap<>();
    for (String k : List.of(TRACEPARENT, TRACESTATE)) {
      String v = header.apply(k);
      if (v != null) {
        m.put(k, v);
      }
    }
    return m;
  }

  /**
   * A service's OpenTelemetry: spans exported over OTLP (batched, {@code
   * OTEL_EXPORTER_OTLP_PROTOCOL} {@code http/protobuf} by default, or {@code grpc}) when {@code
   * OTEL_EXPORTER_OTLP_ENDPOINT} is set, named {@code OTEL_SERVICE_NAME} or {@code service}; else
   * off ({@link OpenTelemetry#noop}). Needs the optional SDK and exporter on the class path (the
   * services have them).
   */
  public static OpenTelemetry forService(String service) {
    return forService(service, System.getenv(), System.getProperties());
  }

  static OpenTelemetry forService(
      String service, Map<String, String> env, java.util.Properties sys) {
    String endpoint = setting(env, sys, "OTEL_EXPORTER_OTLP_ENDPOINT");
    if (endpoint == null) {
      return OpenTelemetry.noop();
    }
    String protocol =
        Optional.ofNullable(setting(env, sys, "OTEL_EXPORTER_OTLP_PROTOCOL"))
            .orElse("http/protobuf");
    String name = Optional.ofNullable(setting(env, sys, "OTEL_SERVICE_NAME")).orElse(service);
    return OtlpTracing.build(name, endpoint, protocol);
  }

  /** {@code OTEL_X_Y} from the environment, overridden by {@code -Dotel.x.y}. */
  private static String setting(Map<String, String> env, java.util.Properties sys, String var) {
    String p = sys.getProperty(var.toLowerCase(java.util.Locale.ROOT).replace('_', '.'));
    String v = p != null ? p : env.get(var);
    return v == null || v.isBlank() ? null : v.trim();
  }
}
