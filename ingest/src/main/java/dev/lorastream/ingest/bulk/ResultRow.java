package dev.lorastream.ingest.bulk;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.lorastream.schemas.ErrorCode;
import dev.lorastream.schemas.FinishReason;
import dev.lorastream.schemas.InferenceResult;

/**
 * One line of the {@code bulk} output: {@code
 * {"id","request_id","text","finish_reason","error_code","error_message",
 * "usage":{"prompt_tokens","completion_tokens"}}}. A row is answered ({@link #ok}) when {@code
 * finish_reason} is {@code STOP} or {@code LENGTH}; failed rows have {@code finish_reason=ERROR},
 * an {@link ErrorCode} name and a message.
 *
 * @param requestId the lorastream request id that produced the row; null when nothing was sent
 */
public record ResultRow(
    String id,
    String requestId,
    String text,
    String finishReason,
    String errorCode,
    String errorMessage,
    int promptTokens,
    int completionTokens) {

  private static final ObjectMapper JSON = new ObjectMapper();

  /** The row of a reply (completion or error reply). */
  public static ResultRow of(String id, InferenceResult r) {
    boolean error = r.getFinishReason() == FinishReason.ERROR;
    String code =
        error ? (r.getErrorCode() == null ? ErrorCode.INTERNAL : r.getErrorCode()).name() : null;
    return new ResultRow(
        id,
        r.getRequestId(),
        r.getText(),
        r.getFinishReason().name(),
        code,
        r.getErrorMessage(),
        r.getUsage().getPromptTokens(),
        r.getUsage().getCompletionTokens());
  }

  /** A row for a request that got no reply, or was never sent. */
  public static ResultRow failure(String id, String requestId, ErrorCode code, String message) {
    return new ResultRow(id, requestId, "", FinishReason.ERROR.name(), code.name(), message, 0, 0);
  }

  public boolean ok() {
    return !FinishReason.ERROR.name().equals(finishReason) && errorCode == null;
  }

  public String toJson() {
    ObjectNode o = JSON.createObjectNode();
    o.put("id", id);
    o.put("request_id", requestId);
    o.put("text", text);
    o.put("finish_reason", finishReason);
    o.put("error_code", errorCode);
    o.put("error_message", errorMessage);
    ObjectNode usage = o.putObject("usage");
    usage.put("prompt_tokens", promptTokens);
    usage.put("completion_tokens", completionTokens);
    return o.toString();
  }

  /**
   * Reads a line written by {@link #toJson}.
   *
   * @throws IllegalArgumentException when it is not such a line (e.g. torn by a crash mid-write)
   */
  public static ResultRow fromJson(String line) {
    JsonNode o;
    try {
      o = JSON.readTree(line);
    } catch (Exception e) {
      throw new IllegalArgumentException("not JSON: " + e.getMessage(), e);
    }
    if (o == null
        || !o.isObject()
        || !o.path("id").isTextual()
        || !o.path("finish_reason").isTextual()) {
      throw new IllegalArgumentException("not a result row (needs \"id\" and \"finish_reason\")");
    }
    return new ResultRow(
        o.get("id").asText(),
        text(o, "request_id"),
        o.path("text").asText(""),
        o.get("finish_reason").asText(),
        text(o, "error_code"),
        text(o, "error_message"),
        o.path("usage").path("prompt_tokens").asInt(0),
        o.path("usage").path("completion_tokens").asInt(0));
  }

  private static String text(JsonNode o, String field) {
    JsonNode v = o.get(field);
    return v == null || v.isNull() ? null : v.asText();
  }
}
