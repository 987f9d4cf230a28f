package dev.lorastream.batcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.lorastream.devstack.TestKafkaCluster;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.common.acl.AccessControlEntryFilter;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclBindingFilter;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.errors.TopicAuthorizationException;
import org.apache.kafka.common.resource.ResourcePatternFilter;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@link TenantTopics} on a SASL/PLAIN broker with the StandardAuthorizer: a tenant gets its two
 * topics and three literal ACLs, which reach nothing of a tenant whose name extends its own.
 */
class TenantTopicsTest {

  static TestKafkaCluster cluster;

  @BeforeAll
  static void start() throws Exception {
    cluster = TestKafkaCluster.startSasl();
  }

  @AfterAll
  static void stop() throws Exception {
    if (cluster != null) {
      cluster.close();
    }
  }

  /**
   * The principal's ACLs once they equal {@code expected}, or what the broker shows after 10 s: a
   * created ACL reaches the broker's authorizer (which answers describeAcls) asynchronously, after
   * createAcls has returned.
   */
  private static Set<String> awaitAcls(Admin admin, String principal, Set<String> expected)
      throws Exception {
    long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    Set<String> got = aclsOf(admin, principal);
    while (!got.equals(expected) && System.nanoTime() < end) {
      Thread.sleep(50);
      got = aclsOf(admin, principal);
    }
    return got;
  }

  private static Set<String> aclsOf(Admin admin, String principal) throws Exception {
    var filter =
        new AclBindingFilter(
            ResourcePatternFilter.ANY,
            new AccessControlEntryFilter(principal, null, AclOperation.ANY, AclPermissionType.ANY));
    Set<String> out = new TreeSet<>();
    for (AclBinding b : admin.describeAcls(filter).values().get(30, TimeUnit.SECONDS)) {
      out.add(
          b.pattern().resourceType()
              + " "
              + b.pattern().patternType()
              + " "
              + b.pattern().name()
              + " "
              + b.entry().operation()
              + " "
              + b.entry().permissionType()
              + " host "
              + b.entry().host());
    }
    return out;
  }

  @Test
  void addCreatesTheTenantsTopicsAndLiteralAclsAndIsIdempotent() throws Exception {
    try (Admin admin = cluster.admin()) {
      TenantTopics.Added first = TenantTopics.add(admin, "initech", 2, (short) 1);
      assertEquals(
          List.of(
              "lora.tenant.initech.cancel",
              "lora.tenant.initech.replies",
              "lora.tenant.initech.requests",
              "lora.tenant.initech.stream",
              "lora.tenant.initech.usage"),
          first.createdTopics());
      assertEquals(List.of(), first.existingTopics());
      Set<String> expected =
          Set.of(
              "GROUP LITERAL lora.tenant.initech READ ALLOW host *",
              "TOPIC LITERAL lora.tenant.initech.replies READ ALLOW host *",
              "TOPIC LITERAL lora.tenant.initech.stream READ ALLOW host *",
              "TOPIC LITERAL lora.tenant.initech.cancel WRITE ALLOW host *",
              "TOPIC LITERAL lora.tenant.initech.requests WRITE ALLOW host *",
              "TOPIC LITERAL lora.tenant.initech.usage READ ALLOW host *");
      assertEquals(expected, awaitAcls(admin, "User:initech", expected));
      assertEquals(
          2,
          admin
              .describeTopics(List.of("lora.tenant.initech.requests"))
              .allTopicNames()
              .get()
              .get("lora.tenant.initech.requests")
              .partitions()
              .size());

      // the usage topic as lora.usage: one partition, compacted
      var usage =
          new org.apache.kafka.common.config.ConfigResource(
              org.apache.kafka.common.config.ConfigResource.Type.TOPIC,
              "lora.tenant.initech.usage");
      assertEquals(
          "compact",
          admin
              .describeConfigs(List.of(usage))
              .all()
              .get()
              .get(usage)
              .get("cleanup.policy")
              .value());
      assertEquals(
          1,
          admin
              .describeTopics(List.of("lora.tenant.initech.usage"))
              .allTopicNames()
              .get()
              .get("lora.tenant.initech.usage")
              .partitions()
              .size());

      TenantTopics.Added again = TenantTopics.add(admin, "initech", 2, (short) 1);
      assertEquals(List.of(), again.createdTopics());
      assertEquals(
          List.of(
              "lora.tenant.initech.cancel",
              "lora.tenant.initech.replies",
              "lora.tenant.initech.requests",
              "lora.tenant.initech.stream",
              "lora.tenant.initech.usage"),
          again.existingTopics());
      assertEquals(expected, awaitAcls(admin, "User:initech", expected));
    }
  }

  @Test
  void aTenantsAclsDoNotReachATenantWhoseNameExtendsIt() throws Exception {
    try (Admin admin = cluster.admin()) {
      TenantTopics.add(admin, "acme", 1, (short) 1);
      TenantTopics.add(admin, "acme2", 1, (short) 1);
    }
    byte[] v = "x".getBytes(StandardCharsets.UTF_8);
    assertNull(TenantClients.send(cluster, "acme", "lora.tenant.acme.requests", "k", v));
    Throwable refused = TenantClients.send(cluster, "acme", "lora.tenant.acme2.requests", "k", v);
    assertInstanceOf(TopicAuthorizationException.class, refused, String.valueOf(refused));
    assertEquals(
        Set.of("lora.tenant.acme2.requests"),
        ((TopicAuthorizationException) refused).unauthorizedTopics());
    // its own replies: readable (empty); acme2's: refused
    assertEquals(
        List.of(),
        TenantClients.read(
            cluster, "acme", "lora.tenant.acme.replies", 1, 1, Duration.ofMillis(500)));
    assertThrows(
        TopicAuthorizationException.class,
        () ->
            TenantClients.read(
                cluster, "acme", "lora.tenant.acme2.replies", 1, 1, Duration.ofSeconds(30)));
  }

  @Test
  void aNameThatIsNoTenantNameIsRefusedBeforeAnythingIsCreated() throws Exception {
    try (Admin admin = cluster.admin()) {
      var e =
          assertThrows(
              IllegalArgumentException.class,
              () -> TenantTopics.add(admin, "acme.x", 1, (short) 1));
      assertEquals(
          "'acme.x' is not a tenant name: 1 to 48 characters of a-z 0-9 -, starting with a letter"
              + " or digit (no dots or underscores, so that tenant topic names cannot collide)",
          e.getMessage());
      assertEquals(
          List.of(),
          admin.listTopics().names().get().stream()
              .filter(t -> t.contains("acme.x"))
              .sorted(Comparator.naturalOrder())
              .toList());
    }
  }
}
