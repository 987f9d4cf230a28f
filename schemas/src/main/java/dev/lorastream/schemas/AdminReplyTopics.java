package dev.lorastream.schemas;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.DescribeTopicsOptions;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.errors.InterruptException;
import org.apache.kafka.common.errors.InvalidTopicException;
import org.apache.kafka.common.errors.TimeoutException;
import org.apache.kafka.common.errors.TopicAuthorizationException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;

/**
 * {@link ReplyTopics} answered by the cluster: an illegal name is refused without asking; any other
 * name is described through an {@link Admin} client (one round trip, {@link #LOOKUP_TIMEOUT} at
 * most). Uncached: wrap it in a {@link ReplyTopicCache}. Thread-safe (the Admin client is). Owns
 * and closes its Admin client.
 */
public final class AdminReplyTopics implements ReplyTopics, AutoCloseable {

  /**
   * Longest a lookup may block its caller: well under the 10 s {@code transaction.timeout.ms} that
   * Kafka Streams sets for exactly_once_v2, so that a slow answer cannot get the batcher's open
   * transaction aborted (the batcher looks up while its transaction is open; the consumer before it
   * begins one).
   */
  public static final Duration LOOKUP_TIMEOUT = Duration.ofSeconds(5);

  /**
   * Kafka's rule for topic names: 1 to 249 of {@code [a-zA-Z0-9._-]}, and not {@code .} or {@code
   * ..}.
   */
  private static final Pattern LEGAL_NAME = Pattern.compile("[a-zA-Z0-9._-]{1,249}");

  private final Admin admin;
  private final String where;

  /**
   * @param where the cluster, for error messages (its bootstrap servers)
   */
  public AdminReplyTopics(Admin admin, String where) {
    this.admin = admin;
    this.where = where;
  }

  static boolean isLegalTopicName(String name) {
    return name != null
        && LEGAL_NAME.matcher(name).matches()
        && !name.equals(".")
        && !name.equals("..");
  }

  @Override
  public State state(String topic) {
    if (!isLegalTopicName(topic)) {
      return State.INVALID_NAME;
    }
    var options = new DescribeTopicsOptions().timeoutMs((int) LOOKUP_TIMEOUT.toMillis());
    try {
      admin
          .describeTopics(List.of(topic), options)
          .topicNameValues()
          .get(topic)
          .get(LOOKUP_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
      return State.EXISTS;
    } catch (ExecutionException e) {
      return switch (e.getCause()) {
        case UnknownTopicOrPartitionException missing -> State.MISSING;
        case TopicAuthorizationException forbidden -> State.NOT_AUTHORIZED;
        case InvalidTopicException invalid -> State.INVALID_NAME;
        case Throwable other ->
            throw new KafkaException(
                "cannot check reply topic '" + topic + "' at " + where + ": " + other, other);
      };
    } catch (java.util.concurrent.TimeoutException e) {
      throw new TimeoutException(
          "cannot check reply topic '"
              + topic
              + "' at "
              + where
              + ": no answer within "
              + LOOKUP_TIMEOUT.toMillis()
              + " ms",
          e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InterruptException(e);
    }
  }

  @Override
  public void close() {
    admin.close(LOOKUP_TIMEOUT);
  }
}
