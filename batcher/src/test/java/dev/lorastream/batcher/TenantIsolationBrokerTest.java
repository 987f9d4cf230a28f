package dev.lorastream.batcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.devstack.TestKafkaCluster;
import dev.lorastream.schemas.AdapterRecord;
import dev.lorastream.schemas.ErrorCode;
import dev.lorastream.schemas.InferenceBatch;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.Tenants;
import dev.lorastream.schemas.Topic;
import dev.lorastream.schemas.Topics;
import dev.lorastream.schemas.registry.MockSchemaRegistry;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.errors.TopicAuthorizationException;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Topics mode end to end on a real broker with SASL/PLAIN and the KRaft StandardAuthorizer, the
 * real {@link BatcherApp} running as principal {@code batcher} with only the ACLs of {@link
 * TenantTopics#serviceAcls}, adapters registered by the catalog administrator {@code catalog}, and
 * tenants {@code acme} and {@code globex} provisioned by {@link TenantTopics}: a tenant cannot
 * publish as another (the broker refuses the other's topic; a forged tenantId on its own topic is
 * refused by the batcher on its own reply topic), cannot read another's replies, cannot register an
 * adapter, and its own requests are served. {@code lora.requests} does not exist: topics mode does
 * not need it.
 */
class TenantIsolationBrokerTest {

  static final String SCOPE = "tenant-isolation-test";
  static final Map<String, Object> SERDE =
      Map.of("schema.registry.url", MockSchemaRegistry.URL_PREFIX + SCOPE);
  static final Serializer<InferenceRequest> REQUESTS =
      Topics.REQUESTS.valueSerde(SERDE).serializer();
  static final Deserializer<InferenceResult> REPLIES =
      Topics.REPLIES.valueSerde(SERDE).deserializer();

  static TestKafkaCluster cluster;
  static BatcherApp app;

  @BeforeAll
  static void start() throws Exception {
    cluster = TestKafkaCluster.startSasl();
    try (Admin admin = cluster.admin()) {
      List<NewTopic> topics = new ArrayList<>();
      for (Topic<?, ?> t : Topics.all()) {
        if (t != Topics.REQUESTS) {
          topics.add(new NewTopic(t.name(), 1, (short) 1).configs(t.topicConfigs()));
        }
      }
      admin.createTopics(topics).all().get();
      TenantTopics.add(admin, "acme", 1, (short) 1);
      TenantTopics.add(admin, "globex", 1, (short) 1);
      TenantTopics.setAcls(
          admin,
          TenantTopics.serviceAcls(
              "User:batcher",
              null,
              "User:catalog",
              null,
              BatcherApp.DEFAULT_APPLICATION_ID,
              "lora-consumers"));
    }
    assertNull(register("catalog", "acme-sql", "acme"));
    Map<String, String> props = new HashMap<>();
    cluster.clientConfig("batcher").forEach((k, v) -> props.put(k, v.toString()));
    props.putAll(
        Map.of(
            "schema.registry.url",
            SERDE.get("schema.registry.url").toString(),
            "state.dir",
            Files.createTempDirectory("tenant-isolation").toString(),
            "replication.factor",
            "1",
            "commit.interval.ms",
            "50",
            "metadata.max.age.ms",
            "1000", // a tenant added below is read within about a second plus a rebalance
            BatcherConfig.TENANCY,
            "topics",
            BatcherConfig.MAX_WAIT_MS,
            "20",
            BatcherConfig.METRICS_PORT,
            "-1"));
    app = BatcherApp.start(BatcherConfig.defaults().with(props));
    assertTrue(app.awaitRunning(Duration.ofSeconds(60)), "state " + app.state());
  }

  @AfterAll
  static void stop() throws Exception {
    if (app != null) {
      app.close();
    }
    if (cluster != null) {
      cluster.close();
    }
    MockSchemaRegistry.dropScope(SCOPE);
  }

  /** Registers an adapter as {@code user}; null when the broker took it. */
  private static Throwable register(String user, String adapter, String owner)
      throws InterruptedException {
    return TenantClients.send(
        cluster,
        user,
        Topics.ADAPTERS.name(),
        adapter,
        Topics.ADAPTERS
            .valueSerde(SERDE)
            .serializer()
            .serialize(Topics.ADAPTERS.name(), adapterRecord(adapter, owner)));
  }

  private static AdapterRecord adapterRecord(String adapter, String owner) {
    return AdapterRecord.newBuilder()
        .setAdapterId(adapter)
        .setOwnerTenant(owner)
        .setSourceUri("file:///srv/adapters/" + adapter)
        .setRank(8)
        .setBaseModel("tiny-llama")
        .setCreatedEpochMs(1)
        .build();
  }

  private static InferenceRequest request(String tenant, String id, String adapter, String reply) {
    return InferenceRequest.newBuilder(Harness.request(id, adapter))
        .setTenantId(tenant)
        .setReplyTopic(reply)
        .setCreatedEpochMs(System.currentTimeMillis())
        .build();
  }

  /** Sends {@code r} to {@code topic} as {@code user}; null when the broker took it. */
  private static Throwable send(String user, String topic, InferenceRequest r)
      throws InterruptedException {
    return TenantClients.send(cluster, user, topic, r.getRequestId(), REQUESTS.serialize(topic, r));
  }

  /** The reply to {@code id} on {@code topic}, read as {@code user}, within 30 s. */
  private static Optional<InferenceResult> reply(String user, String topic, String id) {
    return TenantClients.readKey(cluster, user, topic, id, Duration.ofSeconds(30)).stream()
        .map(r -> REPLIES.deserialize(topic, r.value()))
        .findFirst();
  }

  @Test
  void aTenantCannotWriteAnotherTenantsRequestTopic() throws Exception {
    Throwable refused =
        send(
            "acme",
            Tenants.requestsTopic("globex"),
            request("globex", "x1", null, Tenants.repliesTopic("globex")));
    assertInstanceOf(TopicAuthorizationException.class, refused, String.valueOf(refused));
    assertEquals(
        java.util.Set.of("lora.tenant.globex.requests"),
        ((TopicAuthorizationException) refused).unauthorizedTopics());
    // nor the shared request topic (which does not even exist in this mode) or lora.batches
    assertInstanceOf(
        TopicAuthorizationException.class,
        send("acme", Topics.REQUESTS.name(), request("acme", "x2", null, "lora.replies")));
    assertInstanceOf(
        TopicAuthorizationException.class,
        TenantClients.send(cluster, "acme", Topics.BATCHES.name(), "b", new byte[] {0}));
  }

  @Test
  void aForgedTenantIdOnItsOwnTopicIsRefusedOnItsOwnReplyTopic() throws Exception {
    // acme claims globex, to use globex's reply topic
    assertNull(
        send(
            "acme",
            Tenants.requestsTopic("acme"),
            request("globex", "forged-1", null, Tenants.repliesTopic("globex"))));

    InferenceResult r = reply("acme", Tenants.repliesTopic("acme"), "forged-1").orElseThrow();
    assertEquals(ErrorCode.INVALID_PARAMS, r.getErrorCode());
    assertEquals(
        "tenantId 'globex' does not match topic lora.tenant.acme.requests, which only tenant"
            + " 'acme' can write: send with tenantId 'acme' (a tenant is the one whose request"
            + " topic it writes)",
        r.getErrorMessage());
    assertEquals(
        List.of(),
        TenantClients.readKey(
            cluster, "globex", Tenants.repliesTopic("globex"), "forged-1", Duration.ofSeconds(1)),
        "nothing reaches the forged tenant's reply topic");
  }

  @Test
  void aTenantCannotReadAnotherTenantsReplies() {
    assertThrows(
        TopicAuthorizationException.class,
        () ->
            TenantClients.read(
                cluster, "acme", Tenants.repliesTopic("globex"), 1, 1, Duration.ofSeconds(10)));
  }

  @Test
  void aTenantCannotRegisterAnAdapter() throws Exception {
    Throwable refused = register("acme", "globex-sql", "acme");
    assertInstanceOf(TopicAuthorizationException.class, refused, String.valueOf(refused));
    assertEquals(
        java.util.Set.of(Topics.ADAPTERS.name()),
        ((TopicAuthorizationException) refused).unauthorizedTopics());
  }

  @Test
  void aTenantsOwnRequestsAreServed() throws Exception {
    String acmeReplies = Tenants.repliesTopic("acme");
    assertNull(
        send(
            "acme",
            Tenants.requestsTopic("acme"),
            request("acme", "ok-1", "acme-sql", acmeReplies)));
    assertNull(
        send("acme", Tenants.requestsTopic("acme"), request("acme", "ok-2", "nope", acmeReplies)));

    InferenceBatch batch = batchWith("ok-1").orElseThrow();
    InferenceRequest row =
        batch.getRequests().stream()
            .filter(q -> q.getRequestId().equals("ok-1"))
            .findFirst()
            .orElseThrow();
    assertEquals("acme", row.getTenantId());
    assertEquals("acme-sql", row.getAdapterId());
    assertEquals(acmeReplies, row.getReplyTopic());
    assertEquals(
        ErrorCode.UNKNOWN_ADAPTER, reply("acme", acmeReplies, "ok-2").orElseThrow().getErrorCode());
  }

  @Test
  void aTenantAddedWhileTheBatcherRunsIsServed() throws Exception {
    try (Admin admin = cluster.admin()) {
      TenantTopics.add(admin, "initech", 1, (short) 1);
    }
    // no initech user on this broker: the super user writes as the tenant would
    assertNull(
        send(
            TestKafkaCluster.ADMIN,
            Tenants.requestsTopic("initech"),
            request("initech", "late-1", null, Tenants.repliesTopic("initech"))));
    InferenceBatch batch = batchWith("late-1").orElseThrow();
    assertEquals(
        List.of("initech"),
        batch.getRequests().stream()
            .filter(q -> q.getRequestId().equals("late-1"))
            .map(InferenceRequest::getTenantId)
            .toList());
  }

  /** The batch on lora.batches (read as the super user) that holds request {@code id}. */
  private static Optional<InferenceBatch> batchWith(String id) {
    Deserializer<InferenceBatch> d = Topics.BATCHES.valueSerde(SERDE).deserializer();
    for (ConsumerRecord<String, byte[]> rec :
        TenantClients.read(
            cluster,
            TestKafkaCluster.ADMIN,
            Topics.BATCHES.name(),
            1,
            1,
            Duration.ofSeconds(30),
            r ->
                d.deserialize(Topics.BATCHES.name(), r.value()).getRequests().stream()
                    .anyMatch(q -> q.getRequestId().equals(id)))) {
      return Optional.of(d.deserialize(Topics.BATCHES.name(), rec.value()));
    }
    return Optional.empty();
  }
}
