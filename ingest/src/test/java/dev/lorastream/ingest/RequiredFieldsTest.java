package dev.lorastream.ingest;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.SamplingParams;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** The null a request's schema forbids, named by its path before the serializer trips on it. */
class RequiredFieldsTest {
  private static InferenceRequest.Builder request() {
    return InferenceRequest.newBuilder()
        .setRequestId("r")
        .setTenantId("t")
        .setPromptTokenIds(java.util.List.of(1, 2))
        .setCreatedEpochMs(1);
  }

  @Test
  void aCompleteRequestHasNoForbiddenNull() {
    assertEquals(Optional.empty(), RequiredFields.firstNull(request().build()));
    assertEquals(
        Optional.empty(),
        RequiredFields.firstNull(request().setAdapterId(null).setPrompt(null).build()),
        "adapterId and prompt are nullable");
  }

  @Test
  void aNullSamplingIsNamed() {
    assertEquals(
        Optional.of("sampling"), RequiredFields.firstNull(request().setSampling(null).build()));
  }

  @Test
  void aNullInsideSamplingIsNamedWithItsPath() {
    SamplingParams empty = new SamplingParams(); // Avro's no-arg constructor: lists left null
    assertEquals(
        Optional.of("sampling.stopTokenIds"),
        RequiredFields.firstNull(request().setSampling(empty).build()));
    SamplingParams nullString =
        SamplingParams.newBuilder().setStopStrings(Arrays.asList("a", null)).build();
    assertEquals(
        Optional.of("sampling.stopStrings[1]"),
        RequiredFields.firstNull(request().setSampling(nullString).build()));
  }

  @Test
  void aNullTraceValueIsNamedWithItsKey() {
    Map<String, String> trace = new HashMap<>();
    trace.put("traceparent", null);
    assertEquals(
        Optional.of("traceContext[traceparent]"),
        RequiredFields.firstNull(request().setTraceContext(trace).build()));
  }
}
