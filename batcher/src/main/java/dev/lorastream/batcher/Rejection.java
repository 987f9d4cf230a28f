package dev.lorastream.batcher;

import dev.lorastream.schemas.ErrorCode;
import dev.lorastream.schemas.FinishReason;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.Usage;

/**
 * Why a decoded request is refused, and where the error reply goes.
 *
 * @param code the error code on the reply
 * @param message what was wrong, naming the field, value and limit, for a person to act on
 * @param replyTopic the request's reply topic, or {@code lora.replies} when that topic is not
 *     allowed or cannot be written
 */
record Rejection(ErrorCode code, String message, String replyTopic) {

  /**
   * The error reply: finishReason ERROR, code and message; usage counts the prompt; no batch, no
   * server.
   */
  InferenceResult toReply(InferenceRequest request) {
    return InferenceResult.newBuilder()
        .setRequestId(request.getRequestId())
        .setTenantId(request.getTenantId())
        .setAdapterId(request.getAdapterId())
        .setFinishReason(FinishReason.ERROR)
        .setErrorCode(code)
        .setErrorMessage(message)
        .setUsage(
            Usage.newBuilder()
                .setPromptTokens(request.getPromptTokenIds().size())
                .setCompletionTokens(0)
                .build())
        .build();
  }
}
