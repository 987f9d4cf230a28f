package dev.lorastream.schemas;

import io.opentelemetry.api.OpenTelemetry;
import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.trace.propagation.W3CTraceContextPropagator;
import io.opentelemetry.context.propagation.ContextPropagators;
import io.opentelemetry.exporter.otlp.http.trace.OtlpHttpSpanExporter;
import io.opentelemetry.exporter.otlp.trace.OtlpGrpcSpanExporter;
import io.opentelemetry.sdk.OpenTelemetrySdk;
import io.opentelemetry.sdk.resources.Resource;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.export.BatchSpanProcessor;
import io.opentelemetry.sdk.trace.export.SpanExporter;

/** The OTLP half of {@link Tracing#forService}, apart so that the SDK is loaded only when used. */
final class OtlpTracing {
  private OtlpTracing() {}

  static OpenTelemetry build(String service, String endpoint, String protocol) {
    SpanExporter exporter =
        switch (protocol) {
          case "grpc" -> OtlpGrpcSpanExporter.builder().setEndpoint(endpoint).build();
          case "http/protobuf" ->
              OtlpHttpSpanExporter.builder()
                  .setEndpoint(endpoint.replaceAll("/+$", "") + "/v1/traces")
                  .build();
          default ->
              throw new IllegalArgumentException(
                  "OTEL_EXPORTER_OTLP_PROTOCOL="
                      + protocol
                      + " is not supported: use http/protobuf (default) or grpc");
        };
    SdkTracerProvider provider =
        SdkTracerProvider.builder()
            .setResource(
                Resource.getDefault()
                    .merge(Resource.create(Attributes.of(ServiceName.KEY, service))))
            .addSpanProcessor(BatchSpanProcessor.builder(exporter).build())
            .build();
    OpenTelemetrySdk sdk =
        OpenTelemetrySdk.builder()
            .setTracerProvider(provider)
            .setPropagators(ContextPropagators.create(W3CTraceContextPropagator.getInstance()))
            .build();
    Runtime.getRuntime().addShutdownHook(new Thread(sdk::close, "otel-flush"));
    return sdk;
  }

  /** {@code service.name}, the resource attribute every backend groups spans by. */
  private static final class ServiceName {
    static final io.opentelemetry.api.common.AttributeKey<String> KEY =
        io.opentelemetry.api.common.AttributeKey.stringKey("service.name");
  }
}
