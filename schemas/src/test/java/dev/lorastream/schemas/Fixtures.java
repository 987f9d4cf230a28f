package dev.lorastream.schemas;

import java.util.List;
import java.util.Map;

/** One filled-in instance of each record, every optional field set, for round-trip tests. */
public final class Fixtures {

  private Fixtures() {}

  public static InferenceRequest request(String requestId, String adapterId) {
    return InferenceRequest.newBuilder()
        .setRequestId(requestId)
        .setTenantId("acme")
        .setAdapterId(adapterId)
        .setPrompt("Once upon a time")
        .setPromptTokenIds(List.of(1, 9038, 2501, 263, 931))
        .setSampling(
            SamplingParams.newBuilder()
                .setTemperature(0.7f)
                .setTopK(40)
                .setTopP(0.9f)
                .setSeed(42L)
                .setMaxTokens(32)
                .setStopTokenIds(List.of(2))
                .setStopStrings(List.of("\n\n", "THE END"))
                .build())
        .setReplyTopic("lora.replies.acme")
        .setDeadlineEpochMs(1_800_000_060_000L)
        .setPriority(5)
        .setCreatedEpochMs(1_800_000_000_000L)
        .setTraceContext(
            Map.of("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"))
        .build();
  }

  /** Only the required fields; every other field takes its schema default. */
  public static InferenceRequest minimalRequest() {
    return InferenceRequest.newBuilder()
        .setRequestId("r-min")
        .setTenantId("t")
        .setCreatedEpochMs(1L)
        .build();
  }

  public static InferenceBatch batch() {
    return InferenceBatch.newBuilder()
        .setBatchId("b-1")
        .setCreatedEpochMs(1_800_000_000_100L)
        .setRequests(
            List.of(
                request("r-0", null),
                request("r-1", "sql-expert"),
                request("r-2", "sql-expert"),
                request("r-3", "poet")))
        .setAdapterIds(List.of("sql-expert", "poet"))
        .setTotalTokens(4 * (5 + 32))
        .setAffinityKey("sql-expert")
        .setFlushReason(FlushReason.MAX_WAIT)
        .build();
  }

  public static InferenceResult result() {
    return InferenceResult.newBuilder()
        .setRequestId("r-1")
        .setTenantId("acme")
        .setAdapterId("sql-expert")
        .setText(" there was a query")
        .setTokenIds(List.of(727, 471, 263, 2346))
        .setFinishReason(FinishReason.STOP)
        .setUsage(Usage.newBuilder().setPromptTokens(5).setCompletionTokens(4).build())
        .setTimings(Timings.newBuilder().setQueueMs(12).setFirstTokenMs(30).setTotalMs(95).build())
        .setBatchId("b-1")
        .setServedBy("gpu-host-3/cuda:0")
        .build();
  }

  public static InferenceResult errorResult() {
    return InferenceResult.newBuilder()
        .setRequestId("r-9")
        .setTenantId("acme")
        .setAdapterId("someone-elses")
        .setFinishReason(FinishReason.ERROR)
        .setErrorCode(ErrorCode.ADAPTER_FORBIDDEN)
        .setErrorMessage(
            "adapter someone-elses belongs to tenant globex; tenant acme may use its own or public adapters")
        .build();
  }

  public static AdapterRecord adapter() {
    return AdapterRecord.newBuilder()
        .setAdapterId("sql-expert")
        .setOwnerTenant("acme")
        .setSourceUri("file:///srv/adapters/acme/sql-expert")
        .setSha256("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")
        .setRank(16)
        .setBaseModel("tiny-llama")
        .setSizeBytes(1_048_576L)
        .setCreatedEpochMs(1_800_000_000_000L)
        .build();
  }
}
