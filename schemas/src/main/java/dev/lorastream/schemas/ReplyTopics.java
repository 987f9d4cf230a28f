package dev.lorastream.schemas;

/**
 * Whether a reply topic can be written, asked before anything is written to it. Shared by the
 * batcher (which rejects a request whose reply topic cannot be written) and the inference consumer
 * (which checks each finished result's topic before its transaction and answers on {@link
 * Topics#REPLIES} instead).
 *
 * <p>Why ask first: in a Kafka transaction a write to a topic that does not exist fails inside the
 * producer (no metadata after {@code max.block.ms}), which puts the transaction into an abortable
 * error state. The whole transaction is aborted and, since the input offsets were part of it, the
 * same input is processed again and fails the same way: one bad {@code replyTopic} stops the writer
 * for good. Nothing on the producer side can save that transaction (in Kafka Streams a {@code
 * ProductionExceptionHandler}'s CONTINUE drops the record but the commit fails anyway), so writers
 * ask here and write an error reply instead.
 *
 * <p>Implementations: {@link AdminReplyTopics} (asks the cluster), {@link ReplyTopicCache}
 * (remembers the answers for a while). Implementations must be thread-safe (the batcher's stream
 * threads share one).
 */
@FunctionalInterface
public interface ReplyTopics {

  /** What a writer can tell about a reply topic before writing to it. */
  enum State {
    /** The topic exists and this client may describe it. */
    EXISTS,
    /** No such topic on the cluster (lorastream's services do not create topics). */
    MISSING,
    /** Not a legal topic name (e.g. a tenantId with a space expanded into the pattern). */
    INVALID_NAME,
    /** This client's principal may not describe the topic, so it could not write to it either. */
    NOT_AUTHORIZED
  }

  /**
   * @throws org.apache.kafka.common.KafkaException when the cluster cannot answer now (unreachable,
   *     timed out): not the request's fault, so the caller retries the work later (the batcher's
   *     stream thread fails and is replaced; the consumer rewinds to its last committed offsets)
   *     rather than answering it
   */
  State state(String topic);
}
