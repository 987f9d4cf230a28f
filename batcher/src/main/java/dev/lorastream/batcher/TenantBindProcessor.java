package dev.lorastream.batcher;

import dev.lorastream.schemas.ErrorCode;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.ReplyTopics;
import dev.lorastream.schemas.Tenants;
import dev.lorastream.schemas.Topics;
import java.util.Optional;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.processor.api.RecordMetadata;

/**
 * Binds each request to the tenant of the topic it was read from (topics mode, {@link
 * dev.lorastream.schemas.Tenancy#TOPICS}): the ACLs let only tenant {@code t}'s principal write
 * {@code lora.tenant.t.requests}, so the topic, not the record, says who sent it. A request whose
 * {@code tenantId} is not that tenant, or whose {@code replyTopic} is not that tenant's {@code
 * lora.tenant.t.replies}, is refused with INVALID_PARAMS; the error goes to the tenant's own reply
 * topic (never to the one the record names), or to {@code lora.replies} when that cannot be
 * written. Every other request goes on as {@link Verdict.Accepted} to {@link DedupProcessor}, whose
 * key (tenant, request id) is thus the authenticated tenant's.
 *
 * <p>Stateless; one per task.
 */
final class TenantBindProcessor implements Processor<byte[], InferenceRequest, byte[], Verdict> {

  private final ReplyTopics replyTopics;
  private final BatcherMetrics metrics;
  private ProcessorContext<byte[], Verdict> context;

  TenantBindProcessor(ReplyTopics replyTopics, BatcherMetrics metrics) {
    this.replyTopics = replyTopics;
    this.metrics = metrics;
  }

  @Override
  public void init(ProcessorContext<byte[], Verdict> context) {
    this.context = context;
  }

  @Override
  public void process(Record<byte[], InferenceRequest> record) {
    String topic = context.recordMetadata().map(RecordMetadata::topic).orElse("?");
    Optional<Rejection> refused = check(topic, record.value());
    if (refused.isEmpty()) {
      context.forward(record.withValue(new Verdict.Accepted(record.value())));
      return;
    }
    Rejection r = refused.get();
    metrics.rejected(r.code().name());
    context.forward(
        record.withValue(new Verdict.Rejected(r.replyTopic(), r.toReply(record.value()))));
  }

  /** Why {@code request}, read from {@code topic}, is refused; empty when it is the tenant's. */
  Optional<Rejection> check(String topic, InferenceRequest request) {
    Optional<String> tenant = Tenants.ofRequestsTopic(topic);
    if (tenant.isEmpty()) { // the source pattern reads only tenant topics; kept for safety
      return Optional.of(
          new Rejection(
              ErrorCode.INVALID_PARAMS,
              "topic '" + topic + "' is not a tenant request topic (lora.tenant.<tenant>.requests)",
              Topics.REPLIES.name()));
    }
    String t = tenant.get();
    String own = Tenants.repliesTopic(t);
    String problem = null;
    if (!t.equals(request.getTenantId())) {
      problem =
          "tenantId '"
              + request.getTenantId()
              + "' does not match topic "
              + topic
              + ", which only tenant '"
              + t
              + "' can write: send with tenantId '"
              + t
              + "' (a tenant is the one whose request topic it writes)";
    } else if (!own.equals(request.getReplyTopic())) {
      problem =
          "replyTopic '"
              + request.getReplyTopic()
              + "' is not tenant '"
              + t
              + "''s reply topic: send with replyTopic '"
              + own
              + "' (a tenant reads replies from its own topic only)";
    }
    if (problem == null) {
      return Optional.empty();
    }
    String to = own;
    if (replyTopics.state(own) != ReplyTopics.State.EXISTS) {
      to = Topics.REPLIES.name();
      problem += "; this error was written to " + to + " because " + own + " cannot be written";
    }
    return Optional.of(new Rejection(ErrorCode.INVALID_PARAMS, problem, to));
  }
}
