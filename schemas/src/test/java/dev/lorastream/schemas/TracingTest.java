package dev.lorastream.schemas;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.opentelemetry.api.OpenTelemetry;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.context.Context;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.junit.jupiter.api.Test;

class TracingTest {
  static final String TP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

  @Test
  void aTraceContextIsNoneMalformedOrAParent() {
    assertInstanceOf(Tracing.Parent.None.class, Tracing.parent(Map.of()));
    assertInstanceOf(Tracing.Parent.None.class, Tracing.parent(null));
    assertEquals(
        new Tracing.Parent.Malformed("00-nope"),
        Tracing.parent(Map.of(Tracing.TRACEPARENT, "00-nope")));
    Tracing.Parent.Of p =
        assertInstanceOf(Tracing.Parent.Of.class, Tracing.parent(Map.of(Tracing.TRACEPARENT, TP)));
    Context c = p.context();
    assertEquals(
        "4bf92f3577b34da6a3ce929d0e0e4736", Span.fromContext(c).getSpanContext().getTraceId());
    assertEquals("00f067aa0ba902b7", Span.fromContext(c).getSpanContext().getSpanId());
    // and written back the same
    assertEquals(Map.of(Tracing.TRACEPARENT, TP), Tracing.contextOf(Span.fromContext(c)));
  }

  @Test
  void headersCarryTheW3cFieldsBothWays() {
    RecordHeaders h = new RecordHeaders();
    h.add(Tracing.TRACEPARENT, "old".getBytes());
    Tracing.toHeaders(Map.of(Tracing.TRACEPARENT, TP, Tracing.TRACESTATE, "k=v", "other", "x"), h);
    assertEquals(
        Map.of(Tracing.TRACEPARENT, TP, Tracing.TRACESTATE, "k=v"), Tracing.fromHeaders(h));
    assertEquals(2, h.toArray().length, "one traceparent (replaced) and one tracestate");
    assertEquals(Map.of(), Tracing.fromHeaders(new RecordHeaders()));
  }

  @Test
  void exportIsOffUnlessAnOtlpEndpointIsSet() {
    assertSame(OpenTelemetry.noop(), Tracing.forService("s", Map.of(), new Properties()));
    OpenTelemetry on =
        Tracing.forService(
            "s", Map.of("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"), new Properties());
    assertNotSame(OpenTelemetry.noop(), on);
    Properties sys = new Properties();
    sys.setProperty("otel.exporter.otlp.endpoint", "http://127.0.0.1:4317");
    sys.setProperty("otel.exporter.otlp.protocol", "thrift");
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> Tracing.forService("s", Map.of(), sys));
    assertEquals(
        "OTEL_EXPORTER_OTLP_PROTOCOL=thrift is not supported: use http/protobuf (default) or grpc",
        e.getMessage());
  }
}
