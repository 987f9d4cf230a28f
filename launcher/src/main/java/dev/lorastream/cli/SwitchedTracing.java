package dev.lorastream.cli;

import io.opentelemetry.api.OpenTelemetry;
import io.opentelemetry.api.trace.SpanBuilder;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.api.trace.TracerProvider;
import io.opentelemetry.context.propagation.ContextPropagators;
import io.opentelemetry.sdk.common.CompletableResultCode;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.BatchSpanProcessor;
import io.opentelemetry.sdk.trace.export.SpanExporter;
import java.util.Collection;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Tracing that a benchmark turns on and off between runs of one stack: while on, spans go through
 * the SDK (batched, as a service exports them) to an exporter that counts and drops them, so a run
 * pays for making, recording and exporting every span but not a collector's network; while off,
 * spans are the no-op ones of tracing left unconfigured. The services take their tracer once, at
 * start: this one asks the switch at each span.
 */
final class SwitchedTracing implements OpenTelemetry, AutoCloseable {
  private final AtomicBoolean on = new AtomicBoolean();
  private final AtomicLong exported = new AtomicLong();
  private final SdkTracerProvider sdk =
      SdkTracerProvider.builder()
          .addSpanProcessor(
              BatchSpanProcessor.builder(
                      new SpanExporter() {
                        @Override
                        public CompletableResultCode export(Collection<SpanData> spans) {
                          exported.addAndGet(spans.size());
                          return CompletableResultCode.ofSuccess();
                        }

                        @Override
                        public CompletableResultCode flush() {
                          return CompletableResultCode.ofSuccess();
                        }

                        @Override
                        public CompletableResultCode shutdown() {
                          return CompletableResultCode.ofSuccess();
                        }
                      })
                  .build())
          .build();

  void set(boolean tracing) {
    on.set(tracing);
  }

  /** Spans exported so far (after {@link #flush}: all that ended). */
  long exported() {
    return exported.get();
  }

  void flush() {
    sdk.forceFlush().join(10, java.util.concurrent.TimeUnit.SECONDS);
  }

  @Override
  public TracerProvider getTracerProvider() {
    return new TracerProvider() {
      @Override
      public Tracer get(String name) {
        return switched(sdk.get(name), TracerProvider.noop().get(name));
      }

      @Override
      public Tracer get(String name, String version) {
        return switched(sdk.get(name, version), TracerProvider.noop().get(name, version));
      }
    };
  }

  private Tracer switched(Tracer traced, Tracer off) {
    return new Tracer() {
      @Override
      public SpanBuilder spanBuilder(String name) {
        return (on.get() ? traced : off).spanBuilder(name);
      }
    };
  }

  @Override
  public ContextPropagators getPropagators() {
    return ContextPropagators.noop();
  }

  @Override
  public void close() {
    sdk.close();
  }
}
