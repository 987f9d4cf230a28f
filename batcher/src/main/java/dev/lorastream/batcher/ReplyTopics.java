package dev.lorastream.batcher;

/**
 * Whether the batcher can write to a reply topic, asked before anything is written to it.
 *
 * <p>Why ask first: under exactly_once_v2 a write to a topic that does not exist fails inside the producer
 * (no metadata after {@code max.block.ms}), which puts the transaction into an abortable error state. The
 * whole transaction is aborted, the stream thread dies, and its replacement reprocesses the same request
 * from the committed offset and fails the same way: one bad {@code replyTopic} stops the batcher for good.
 * A {@code ProductionExceptionHandler} cannot help: its CONTINUE drops the record but the commit fails
 * anyway. So {@link RequestValidator} asks here and rejects the request instead (error reply to
 * {@code lora.replies}, which is checked at start).
 *
 * <p>Implementations: {@link AdminReplyTopics} (asks the cluster), {@link ReplyTopicCache} (remembers the
 * answers for a while). Called on stream threads: implementations must be thread-safe.
 */
@FunctionalInterface
public interface ReplyTopics {

  /** What the batcher can tell about a reply topic before writing to it. */
  enum State {
    /** The topic exists and this client may describe it. */
    EXISTS,
    /** No such topic on the cluster (the batcher does not create topics). */
    MISSING,
    /** Not a legal topic name (e.g. a tenantId with a space expanded into the pattern). */
    INVALID_NAME,
    /** The batcher's principal may not describe the topic, so it could not write to it either. */
    NOT_AUTHORIZED
  }

  /**
   * @throws org.apache.kafka.common.KafkaException when the cluster cannot answer now (unreachable, timed
   *     out): not the request's fault, so the stream thread fails and the request is retried from the last
   *     committed offset, like a schema registry outage in {@link DecodeProcessor}
   */
  State state(String topic);
}
