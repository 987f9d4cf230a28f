package dev.lorastream.consumer;

import dev.lorastream.schemas.ErrorCode;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.ReplyTopics;
import dev.lorastream.schemas.Tenancy;
import dev.lorastream.schemas.Tenants;
import dev.lorastream.schemas.Topics;
import java.util.function.Consumer;
import org.apache.kafka.clients.producer.ProducerRecord;

/**
 * Decides where each finished result is written, before the transaction that writes it begins: to
 * its request's {@code replyTopic} when {@link ReplyTopics} says that topic can be written;
 * otherwise an INVALID_PARAMS error result takes its place, on {@code lora.replies}, saying which
 * topic, what happened and what to do.
 *
 * <p>Why: finished results commit in one transaction with their partitions' offsets, and one write
 * to a topic that does not exist poisons that transaction (see {@link ReplyTopics}). Redoing it
 * fails the same way, so the consumer would retry the same results forever and commit nothing else.
 * The batcher rejects such requests up front; here it is a race (topic deleted after the batcher
 * accepted the request, or while cached as existing), handled so that nothing is lost and the
 * consumer keeps serving.
 *
 * <p>The error result keeps requestId, tenantId, adapterId and batchId, so the caller can correlate
 * it, and carries no generated text: {@code lora.replies} is shared by all tenants, and the text
 * was meant for the tenant's own topic. {@code lora.replies} itself is never looked up ({@link
 * InferenceConsumer} checks it at start).
 *
 * <p>Thread-safe when its {@link ReplyTopics} is; the consumer calls it from its poll thread.
 */
final class ReplyRouter {
  private final ReplyTopics topics;
  private final String servedBy;
  private final Consumer<ReplyTopics.State> onReroute;
  private final Tenancy tenancy;

  /** A router of shared mode ({@link Tenancy#SHARED}). */
  ReplyRouter(ReplyTopics topics, String servedBy, Consumer<ReplyTopics.State> onReroute) {
    this(topics, servedBy, onReroute, Tenancy.SHARED);
  }

  /**
   * @param servedBy the {@code servedBy} of the error results (the consumer's id)
   * @param onReroute told the reason each time a result goes to {@code lora.replies} instead
   *     (metrics)
   * @param tenancy in topics mode a result is written only to {@code lora.tenant.<t>.replies} of
   *     its request's tenant; a request naming another topic (which the batcher of that mode never
   *     lets through) gets an INVALID_PARAMS error on {@code lora.replies} instead, reported as
   *     NOT_AUTHORIZED
   */
  ReplyRouter(
      ReplyTopics topics, String servedBy, Consumer<ReplyTopics.State> onReroute, Tenancy tenancy) {
    this.topics = topics;
    this.servedBy = servedBy;
    this.onReroute = onReroute;
    this.tenancy = tenancy;
  }

  /**
   * Where {@code result} of {@code req} goes, and what: the result itself, or an error in its
   * place.
   */
  ProducerRecord<String, InferenceResult> record(
      InferenceRequest req, InferenceResult result, String batchId) {
    String topic = req.getReplyTopic();
    if (tenancy == Tenancy.TOPICS && !isTenantsOwn(req)) {
      onReroute.accept(ReplyTopics.State.NOT_AUTHORIZED);
      InferenceResult error =
          Results.error(req, ErrorCode.INVALID_PARAMS, notTheTenants(req), batchId, servedBy);
      return new ProducerRecord<>(Topics.REPLIES.name(), error.getRequestId(), error);
    }
    if (topic.equals(Topics.REPLIES.name())) {
      return new ProducerRecord<>(topic, result.getRequestId(), result);
    }
    ReplyTopics.State state = topics.state(topic);
    if (state == ReplyTopics.State.EXISTS) {
      return new ProducerRecord<>(topic, result.getRequestId(), result);
    }
    onReroute.accept(state);
    InferenceResult error =
        Results.error(req, ErrorCode.INVALID_PARAMS, problem(topic, state), batchId, servedBy);
    return new ProducerRecord<>(Topics.REPLIES.name(), error.getRequestId(), error);
  }

  private static boolean isTenantsOwn(InferenceRequest req) {
    return Tenants.isName(req.getTenantId())
        && Tenants.repliesTopic(req.getTenantId()).equals(req.getReplyTopic());
  }

  /** The message of the error result of a request whose reply topic is not its tenant's. */
  static String notTheTenants(InferenceRequest req) {
    return "replyTopic '"
        + req.getReplyTopic()
        + "' is not the reply topic of tenant '"
        + req.getTenantId()
        + "' (lora.tenant.<tenant>.replies; lorastream.tenancy=topics), so the result was not"
        + " delivered: the batcher should have refused this request (is it running with"
        + " batcher.tenancy=topics?); this error was written to "
        + Topics.REPLIES.name()
        + " instead";
  }

  /** The message of the error result: the topic, what happened, what to do. */
  static String problem(String topic, ReplyTopics.State state) {
    String instead = "; this error was written to " + Topics.REPLIES.name() + " instead";
    String orDefault = " or send with replyTopic '" + Topics.REPLIES.name() + "'";
    return switch (state) {
      case MISSING ->
          "replyTopic '"
              + topic
              + "' does not exist on the Kafka cluster (it may have been deleted"
              + " after the batcher accepted the request; the inference consumer does not create topics), so the"
              + " result was not delivered: create the topic and send the request again,"
              + orDefault
              + instead;
      case INVALID_NAME ->
          "replyTopic '"
              + topic
              + "' is not a legal Kafka topic name (1 to 249 characters of"
              + " a-z A-Z 0-9 . _ -), so the result was not delivered: send the request again with a legal"
              + " replyTopic,"
              + orDefault
              + instead;
      case NOT_AUTHORIZED ->
          "the inference consumer is not authorized to write replyTopic '"
              + topic
              + "', so"
              + " the result was not delivered: grant its principal DESCRIBE and WRITE on that topic and send the"
              + " request again,"
              + orDefault
              + instead;
      case EXISTS ->
          throw new IllegalArgumentException("no problem with '" + topic + "': it exists");
    };
  }
}
