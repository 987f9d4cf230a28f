package dev.lorastream.batcher;

import dev.lorastream.schemas.Tenants;
import dev.lorastream.schemas.Topics;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclBindingFilter;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;

/**
 * Provisions a tenant of topics mode ({@link dev.lorastream.schemas.Tenancy#TOPICS}) on a cluster:
 * creates its topics ({@link Tenants#requestsTopic}, {@link Tenants#repliesTopic}, {@link
 * Tenants#streamTopic}, {@link Tenants#cancelTopic}, and the compacted {@link Tenants#usageTopic}
 * with one partition, as {@code lora.usage}) and gives its principal {@code User:<tenant>} exactly
 * these ACLs, all LITERAL (a prefixed ACL for {@code acme} would also reach {@code acme2}'s
 * topics):
 *
 * <ul>
 *   <li>WRITE on {@code lora.tenant.<t>.requests} (it sends requests; WRITE implies DESCRIBE, and
 *       since Kafka 2.8 lets its producer be idempotent);
 *   <li>READ on {@code lora.tenant.<t>.replies} (it reads its replies);
 *   <li>READ on {@code lora.tenant.<t>.stream} (it reads its requests' token chunks);
 *   <li>WRITE on {@code lora.tenant.<t>.cancel} (it cancels its requests);
 *   <li>READ on {@code lora.tenant.<t>.usage} (its own usage counts, compacted, written by the
 *       inference consumers in their transactions: {@code lorastream usage});
 *   <li>READ on group {@code lora.tenant.<t>} (for a consumer group of its own; the lorastream
 *       client reads without one).
 * </ul>
 *
 * Nothing else: no other topic (not {@code lora.adapters}, {@code lora.requests} or another
 * tenant's), no transactional id. Creating the principal's credentials (SCRAM users, or the PLAIN
 * JAAS entries) is left to the cluster's operator. Running it again is harmless: existing topics
 * are kept and ACLs are set, not duplicated.
 */
public final class TenantTopics {

  private static final long TIMEOUT_S = 30;

  private TenantTopics() {}

  /** What {@link #add} did. */
  public record Added(
      List<String> createdTopics, List<String> existingTopics, List<AclBinding> acls) {
    public Added {
      createdTopics = List.copyOf(createdTopics);
      existingTopics = List.copyOf(existingTopics);
      acls = List.copyOf(acls);
    }
  }

  /** The Kafka principal of a tenant: {@code User:<tenant>}. */
  public static String principal(String tenant) {
    return "User:" + Tenants.requireName(tenant);
  }

  /** The ACLs {@link #add} gives {@code tenant} (see the class comment). */
  public static List<AclBinding> acls(String tenant) {
    String p = principal(tenant);
    return List.of(
        allow(ResourceType.TOPIC, Tenants.requestsTopic(tenant), p, AclOperation.WRITE),
        allow(ResourceType.TOPIC, Tenants.repliesTopic(tenant), p, AclOperation.READ),
        allow(ResourceType.TOPIC, Tenants.streamTopic(tenant), p, AclOperation.READ),
        allow(ResourceType.TOPIC, Tenants.cancelTopic(tenant), p, AclOperation.WRITE),
        allow(ResourceType.TOPIC, Tenants.usageTopic(tenant), p, AclOperation.READ),
        allow(ResourceType.GROUP, Tenants.group(tenant), p, AclOperation.READ));
  }

  /**
   * Creates the tenant's topics (those missing) with {@code partitions} partitions and {@code
   * replication} replicas, and sets its ACLs.
   *
   * @throws IllegalArgumentException when {@code tenant} is not a tenant name
   * @throws IllegalStateException when the cluster refuses or does not answer within 30 s
   */
  public static Added add(Admin admin, String tenant, int partitions, short replication) {
    Tenants.requireName(tenant);
    List<String> created = new ArrayList<>();
    List<String> existing = new ArrayList<>();
    try {
      var result =
          admin.createTopics(
              List.of(
                  new NewTopic(Tenants.requestsTopic(tenant), partitions, replication),
                  new NewTopic(Tenants.repliesTopic(tenant), partitions, replication),
                  new NewTopic(Tenants.streamTopic(tenant), partitions, replication),
                  new NewTopic(Tenants.cancelTopic(tenant), partitions, replication),
                  new NewTopic(Tenants.usageTopic(tenant), 1, replication)
                      .configs(Topics.USAGE.topicConfigs())));
      for (Map.Entry<String, ? extends org.apache.kafka.common.KafkaFuture<Void>> e :
          result.values().entrySet()) {
        try {
          e.getValue().get(TIMEOUT_S, TimeUnit.SECONDS);
          created.add(e.getKey());
        } catch (ExecutionException ex) {
          if (!(ex.getCause() instanceof TopicExistsException)) {
            throw failed("create topic " + e.getKey(), ex.getCause());
          }
          existing.add(e.getKey());
        }
      }
      List<AclBinding> acls = acls(tenant);
      try {
        admin.createAcls(acls).all().get(TIMEOUT_S, TimeUnit.SECONDS);
        awaitVisible(admin, acls);
      } catch (ExecutionException ex) {
        throw failed("set the ACLs of tenant " + tenant, ex.getCause());
      }
      created.sort(null);
      existing.sort(null);
      return new Added(created, existing, acls);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while adding tenant " + tenant, e);
    } catch (TimeoutException e) {
      throw new IllegalStateException(
          "the cluster did not answer within " + TIMEOUT_S + " s while adding tenant " + tenant, e);
    }
  }

  /**
   * The ACLs of the services and the catalog administrator in topics mode, for principals given as
   * {@code User:<name>} (any null is left out):
   *
   * <ul>
   *   <li>the batcher ({@code applicationId}, default {@link BatcherApp#DEFAULT_APPLICATION_ID}):
   *       READ and WRITE on topics PREFIXED {@code lora.tenant.} (it reads every tenant's requests
   *       and writes error replies to every tenant's replies; a service, unlike a tenant, may have
   *       a prefixed ACL), READ on {@code lora.requests}, {@code lora.adapters} and {@code
   *       lora.residency}, WRITE on {@code lora.batches}, {@code lora.replies}, {@code
   *       lora.requests.dlq}, {@code lora.adapters.dlq}; ALL on topics, READ on groups and WRITE on
   *       transactional ids PREFIXED {@code applicationId} (Kafka Streams' internal topics,
   *       consumer groups and exactly-once producers, its catalog DLQ writer's included);
   *   <li>the inference consumers ({@code consumerGroup}, default {@code lora-consumers}): READ on
   *       {@code lora.batches}, {@code lora.adapters} and {@code lora.cancel}, WRITE on {@code
   *       lora.replies}, {@code lora.stream} and {@code lora.residency}, READ and WRITE on {@code
   *       lora.usage} (its usage counts, read back at start), READ and WRITE on topics PREFIXED
   *       {@code lora.tenant.} (it writes replies and token chunks, and reads every tenant's
   *       cancels by a pattern subscription), READ on the group and on groups PREFIXED {@code
   *       <group>.cancel.} (each consumer's cancel reader), WRITE on transactional ids PREFIXED
   *       {@code lorastream-consumer-};
   *   <li>the catalog administrator: READ and WRITE on {@code lora.adapters}, the only principal
   *       besides super users that may register, change or delete an adapter ({@code lorastream
   *       adapters} reads the catalog before it writes, to check ownership);
   *   <li>the HTTP gateway, one trusted principal for every tenant: READ and WRITE on topics
   *       PREFIXED {@code lora.tenant.} (it writes each tenant's requests and cancels, under the
   *       tenant its API key proved, and reads each tenant's replies and chunks), READ on {@code
   *       lora.adapters} (its model list); its readers are assigned partitions, with no group.
   * </ul>
   */
  public static List<AclBinding> serviceAcls(
      String batcher,
      String consumer,
      String catalogAdmin,
      String gateway,
      String applicationId,
      String consumerGroup) {
    List<AclBinding> acls = new ArrayList<>();
    if (batcher != null) {
      for (AclOperation op : List.of(AclOperation.READ, AclOperation.WRITE)) {
        acls.add(prefixed(ResourceType.TOPIC, Tenants.TOPIC_PREFIX, batcher, op));
      }
      for (String t :
          List.of(Topics.REQUESTS.name(), Topics.ADAPTERS.name(), Topics.RESIDENCY.name())) {
        acls.add(allow(ResourceType.TOPIC, t, batcher, AclOperation.READ));
      }
      for (String t :
          List.of(
              Topics.BATCHES.name(),
              Topics.REPLIES.name(),
              Topics.REQUESTS_DLQ.name(),
              Topics.ADAPTERS_DLQ.name())) {
        acls.add(allow(ResourceType.TOPIC, t, batcher, AclOperation.WRITE));
      }
      acls.add(prefixed(ResourceType.TOPIC, applicationId, batcher, AclOperation.ALL));
      acls.add(prefixed(ResourceType.GROUP, applicationId, batcher, AclOperation.READ));
      acls.add(prefixed(ResourceType.TRANSACTIONAL_ID, applicationId, batcher, AclOperation.WRITE));
    }
    if (consumer != null) {
      for (String t : List.of(Topics.BATCHES.name(), Topics.ADAPTERS.name())) {
        acls.add(allow(ResourceType.TOPIC, t, consumer, AclOperation.READ));
      }
      acls.add(allow(ResourceType.TOPIC, Topics.REPLIES.name(), consumer, AclOperation.WRITE));
      acls.add(allow(ResourceType.TOPIC, Topics.STREAM.name(), consumer, AclOperation.WRITE));
      acls.add(allow(ResourceType.TOPIC, Topics.RESIDENCY.name(), consumer, AclOperation.WRITE));
      acls.add(allow(ResourceType.TOPIC, Topics.CANCEL.name(), consumer, AclOperation.READ));
      // its usage counts: written in its transactions, read back at start
      acls.add(allow(ResourceType.TOPIC, Topics.USAGE.name(), consumer, AclOperation.READ));
      acls.add(allow(ResourceType.TOPIC, Topics.USAGE.name(), consumer, AclOperation.WRITE));
      acls.add(prefixed(ResourceType.TOPIC, Tenants.TOPIC_PREFIX, consumer, AclOperation.WRITE));
      acls.add(prefixed(ResourceType.TOPIC, Tenants.TOPIC_PREFIX, consumer, AclOperation.READ));
      acls.add(allow(ResourceType.GROUP, consumerGroup, consumer, AclOperation.READ));
      acls.add(
          prefixed(ResourceType.GROUP, consumerGroup + ".cancel.", consumer, AclOperation.READ));
      acls.add(
          prefixed(
              ResourceType.TRANSACTIONAL_ID,
              CONSUMER_TRANSACTIONAL_ID_PREFIX,
              consumer,
              AclOperation.WRITE));
    }
    if (catalogAdmin != null) {
      for (AclOperation op : List.of(AclOperation.READ, AclOperation.WRITE)) {
        acls.add(allow(ResourceType.TOPIC, Topics.ADAPTERS.name(), catalogAdmin, op));
      }
    }
    if (gateway != null) {
      for (AclOperation op : List.of(AclOperation.READ, AclOperation.WRITE)) {
        acls.add(prefixed(ResourceType.TOPIC, Tenants.TOPIC_PREFIX, gateway, op));
      }
      acls.add(allow(ResourceType.TOPIC, Topics.ADAPTERS.name(), gateway, AclOperation.READ));
    }
    return acls;
  }

  /**
   * Waits until the broker answering {@code admin} shows every one of {@code acls}: createAcls
   * returns once the controller has committed them, and each broker's authorizer applies them a
   * moment later, so a tenant that starts right after {@code tenant add} could still be refused.
   */
  private static void awaitVisible(Admin admin, List<AclBinding> acls)
      throws ExecutionException, InterruptedException, TimeoutException {
    long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(TIMEOUT_S);
    while (!admin
        .describeAcls(AclBindingFilter.ANY)
        .values()
        .get(TIMEOUT_S, TimeUnit.SECONDS)
        .containsAll(acls)) {
      if (System.nanoTime() > end) {
        throw new TimeoutException("ACLs not visible on the broker after " + TIMEOUT_S + " s");
      }
      Thread.sleep(50);
    }
  }

  /** Sets {@code acls} (existing ones are kept, not duplicated). */
  public static void setAcls(Admin admin, List<AclBinding> acls) {
    try {
      admin.createAcls(acls).all().get(TIMEOUT_S, TimeUnit.SECONDS);
      awaitVisible(admin, acls);
    } catch (ExecutionException e) {
      throw failed("set ACLs", e.getCause());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while setting ACLs", e);
    } catch (TimeoutException e) {
      throw new IllegalStateException(
          "the cluster did not answer within " + TIMEOUT_S + " s while setting ACLs", e);
    }
  }

  /**
   * Prefix of the inference consumers' transactional ids ({@code lorastream-consumer-<id>}, see
   * {@code InferenceConsumer}).
   */
  public static final String CONSUMER_TRANSACTIONAL_ID_PREFIX = "lorastream-consumer-";

  private static AclBinding prefixed(
      ResourceType type, String prefix, String principal, AclOperation op) {
    return new AclBinding(
        new ResourcePattern(type, prefix, PatternType.PREFIXED),
        new AccessControlEntry(principal, "*", op, AclPermissionType.ALLOW));
  }

  private static IllegalStateException failed(String what, Throwable cause) {
    return new IllegalStateException("cannot " + what + ": " + cause, cause);
  }

  private static AclBinding allow(
      ResourceType type, String name, String principal, AclOperation op) {
    return new AclBinding(
        new ResourcePattern(type, name, PatternType.LITERAL),
        new AccessControlEntry(principal, "*", op, AclPermissionType.ALLOW));
  }
}
