package dev.lorastream.batcher;

import dev.lorastream.schemas.AdapterRecord;
import dev.lorastream.schemas.ErrorCode;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.JitAdapterName;
import dev.lorastream.schemas.Priorities;
import dev.lorastream.schemas.ReplyTopics;
import dev.lorastream.schemas.SamplingRules;
import dev.lorastream.schemas.Topics;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Function;

/**
 * The batcher's admission rules, as a function of the request, the adapter catalog, what {@link
 * ReplyTopics} says about the reply topic, and the wall clock. Rules are checked in this order and
 * the first that fails decides the reply:
 *
 * <ol>
 *   <li>required fields: tenantId and requestId not blank, at least one prompt token →
 *       INVALID_PARAMS;
 *   <li>replyTopic is one the tenant may write ({@link BatcherConfig#allowedReplyTopics}) →
 *       INVALID_PARAMS, and the reply goes to {@code lora.replies} instead (the message says so);
 *   <li>replyTopic can be written: it exists, its name is legal, the batcher may write it →
 *       INVALID_PARAMS, to {@code lora.replies} instead. Checked for accepted requests too, since
 *       the inference consumer writes their results there. {@code lora.replies} itself is not
 *       looked up: {@link BatcherApp} checks it at start;
 *   <li>adapterId (when not null) is in the catalog → UNKNOWN_ADAPTER, and is public or the
 *       tenant's own → ADAPTER_FORBIDDEN. A just-in-time name {@code TENANT/NAME} ({@link
 *       JitAdapterName}) is not looked up: TENANT must be the request's tenant → ADAPTER_FORBIDDEN
 *       (checked first, so another tenant learns nothing about its adapters), and NAME a legal
 *       folder name → INVALID_PARAMS; whether the folder exists is for the consumer to find
 *       (UNKNOWN_ADAPTER from there);
 *   <li>prompt tokens ≤ {@code batcher.max.prompt.tokens} → PROMPT_TOO_LONG;
 *   <li>sampling ({@link SamplingRules}): temperature ≥ 0 and finite, topP in (0, 1], topK ≥ 0, 1 ≤
 *       maxTokens ≤ {@code batcher.max.new.tokens}, no empty stop string → INVALID_PARAMS;
 *   <li>priority in [{@link Priorities#MIN}, {@link Priorities#MAX}] → INVALID_PARAMS;
 *   <li>prompt tokens + maxTokens ≤ {@code batcher.max.context.tokens} (when set; 0 = unknown, the
 *       engine refuses instead) → PROMPT_TOO_LONG;
 *   <li>deadlineEpochMs is 0 or still ahead of the wall clock → DEADLINE_EXCEEDED.
 * </ol>
 *
 * Stateless; thread-safe when its {@link ReplyTopics} is.
 */
final class RequestValidator {

  private final BatcherConfig config;
  private final ReplyTopics replyTopics;

  RequestValidator(BatcherConfig config, ReplyTopics replyTopics) {
    this.config = config;
    this.replyTopics = replyTopics;
  }

  /**
   * @param adapters the catalog: adapterId → record, or null when there is no such adapter
   * @param nowMs wall-clock epoch milliseconds
   * @return empty when the request may be batched
   */
  Optional<Rejection> validate(
      InferenceRequest r, Function<String, AdapterRecord> adapters, long nowMs) {
    String reply = r.getReplyTopic();
    boolean noTenant = r.getTenantId().isBlank();
    Optional<String> replyProblem = noTenant ? Optional.empty() : replyTopicProblem(r);
    if (noTenant || r.getRequestId().isBlank()) {
      return reject(
          ErrorCode.INVALID_PARAMS,
          "requestId and tenantId must not be blank (requestId='"
              + r.getRequestId()
              + "', tenantId='"
              + r.getTenantId()
              + "')",
          noTenant || replyProblem.isPresent() ? Topics.REPLIES.name() : reply);
    }
    if (replyProblem.isPresent()) {
      return reject(
          ErrorCode.INVALID_PARAMS,
          replyProblem.get() + "; this error was written to " + Topics.REPLIES.name() + " instead",
          Topics.REPLIES.name());
    }
    if (r.getPromptTokenIds().isEmpty()) {
      return reject(
          ErrorCode.INVALID_PARAMS,
          "promptTokenIds is empty: the batcher needs the tokenized prompt"
              + " (tokenize on the ingest side; prompt text alone is not enough)",
          reply);
    }
    if (JitAdapterName.isJit(r.getAdapterId())) {
      Optional<Rejection> jit = jitProblem(r, reply);
      if (jit.isPresent()) {
        return jit;
      }
    } else if (r.getAdapterId() != null) {
      AdapterRecord adapter = adapters.apply(r.getAdapterId());
      if (adapter == null) {
        return reject(
            ErrorCode.UNKNOWN_ADAPTER,
            "adapter '"
                + r.getAdapterId()
                + "' is not registered in "
                + Topics.ADAPTERS.name()
                + " (register it first, or use adapterId null for the base model)",
            reply);
      }
      String owner = adapter.getOwnerTenant();
      if (owner != null && !owner.equals(r.getTenantId())) {
        return reject(
            ErrorCode.ADAPTER_FORBIDDEN,
            "adapter '"
                + r.getAdapterId()
                + "' belongs to another"
                + " tenant; tenant '"
                + r.getTenantId()
                + "' may use its own adapters or public ones",
            reply);
      }
    }
    int prompt = r.getPromptTokenIds().size();
    if (prompt > config.maxPromptTokens()) {
      return reject(
          ErrorCode.PROMPT_TOO_LONG,
          "prompt has "
              + prompt
              + " tokens; the limit is "
              + config.maxPromptTokens()
              + " ("
              + BatcherConfig.MAX_PROMPT_TOKENS
              + ")",
          reply);
    }
    Optional<String> bad =
        SamplingRules.problem(r.getSampling(), config.maxNewTokens(), BatcherConfig.MAX_NEW_TOKENS);
    if (bad.isPresent()) {
      return reject(ErrorCode.INVALID_PARAMS, bad.get(), reply);
    }
    Optional<String> badPriority = Priorities.problem(r.getPriority());
    if (badPriority.isPresent()) {
      return reject(ErrorCode.INVALID_PARAMS, badPriority.get(), reply);
    }
    int context = config.maxContextTokens();
    long needed = (long) prompt + r.getSampling().getMaxTokens();
    if (context > 0 && needed > context) {
      return reject(
          ErrorCode.PROMPT_TOO_LONG,
          "prompt has "
              + prompt
              + " tokens and sampling.maxTokens is "
              + r.getSampling().getMaxTokens()
              + ": "
              + needed
              + " tokens exceed the model context of "
              + context
              + " ("
              + BatcherConfig.MAX_CONTEXT_TOKENS
              + "); shorten the prompt or lower maxTokens to at most "
              + Math.max(0, context - prompt),
          reply);
    }
    long deadline = r.getDeadlineEpochMs();
    if (deadline != 0 && deadline <= nowMs) {
      return reject(
          ErrorCode.DEADLINE_EXCEEDED,
          "deadlineEpochMs "
              + deadline
              + " passed "
              + (nowMs - deadline)
              + " ms before the batcher read the request (now "
              + nowMs
              + ")",
          reply);
    }
    return Optional.empty();
  }

  /**
   * Where an error reply to {@code r} (tenantId not blank) goes: its replyTopic when the tenant may
   * use it and it can be written (rules 2 and 3), else {@code lora.replies}.
   */
  String errorReplyTopic(InferenceRequest r) {
    return replyTopicProblem(r).isEmpty() ? r.getReplyTopic() : Topics.REPLIES.name();
  }

  /**
   * Why no reply may be written to the request's replyTopic (tenantId not blank); empty when one
   * may.
   */
  private Optional<String> replyTopicProblem(InferenceRequest r) {
    String reply = r.getReplyTopic();
    String tenant = r.getTenantId();
    Set<String> allowed = config.allowedReplyTopics(tenant);
    if (!allowed.contains(reply)) {
      return Optional.of(
          "replyTopic '"
              + reply
              + "' is not allowed for tenant '"
              + tenant
              + "' (allowed: "
              + new TreeSet<>(allowed)
              + ")");
    }
    if (reply.equals(Topics.REPLIES.name())) {
      return Optional.empty();
    }
    return switch (replyTopics.state(reply)) {
      case EXISTS -> Optional.empty();
      case MISSING ->
          Optional.of(
              "replyTopic '"
                  + reply
                  + "' does not exist on the Kafka cluster (tenant '"
                  + tenant
                  + "' may use it, but nobody has created it, and the batcher does not create topics): create the topic,"
                  + " or send with replyTopic '"
                  + Topics.REPLIES.name()
                  + "'");
      case INVALID_NAME ->
          Optional.of(
              "replyTopic '"
                  + reply
                  + "' is not a legal Kafka topic name (1 to 249"
                  + " characters of a-z A-Z 0-9 . _ -), so no reply can be written to it: use a tenantId that makes a legal"
                  + " name, or send with replyTopic '"
                  + Topics.REPLIES.name()
                  + "'");
      case NOT_AUTHORIZED ->
          Optional.of(
              "the batcher is not authorized to write replyTopic '"
                  + reply
                  + "': grant"
                  + " its principal DESCRIBE and WRITE on that topic, or send with replyTopic '"
                  + Topics.REPLIES.name()
                  + "'");
    };
  }

  private static Optional<Rejection> reject(ErrorCode code, String message, String topic) {
    return Optional.of(new Rejection(code, message, topic));
  }

  /** The rejection of a just-in-time adapter name, if any ({@link JitAdapterName}). */
  private static Optional<Rejection> jitProblem(InferenceRequest r, String reply) {
    String id = r.getAdapterId();
    if (!JitAdapterName.tenantPart(id).equals(r.getTenantId())) {
      return reject(
          ErrorCode.ADAPTER_FORBIDDEN,
          "adapter '"
              + id
              + "' names another tenant's folder; tenant '"
              + r.getTenantId()
              + "' may name only its own just-in-time adapters ('"
              + r.getTenantId()
              + "/NAME')",
          reply);
    }
    try {
      JitAdapterName.parse(id);
      return Optional.empty();
    } catch (IllegalArgumentException e) {
      return reject(ErrorCode.INVALID_PARAMS, e.getMessage(), reply);
    }
  }
}
