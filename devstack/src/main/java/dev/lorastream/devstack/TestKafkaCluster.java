package dev.lorastream.devstack;

import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.security.auth.SecurityProtocol;
import org.apache.kafka.common.test.KafkaClusterTestKit;
import org.apache.kafka.common.test.TestKitNodes;

/**
 * A real single-node KRaft broker for tests: Kafka's own {@code KafkaClusterTestKit} with the
 * mandatory single-node settings of {@link EmbeddedKafka}. Tests add {@code
 * kafka-test-common-runtime} (test scope); devstack declares it optional so the demo's runtime does
 * not carry it.
 */
public final class TestKafkaCluster implements AutoCloseable {

  /** The super user of {@link #startSasl}. */
  public static final String ADMIN = "admin";

  /**
   * The users of {@link #startSasl}, each one's password {@link #password}: the super user, two
   * tenants, and principals for a batcher, an inference consumer, a catalog administrator and an
   * HTTP gateway that have only the ACLs a test gives them.
   */
  public static final List<String> SASL_USERS =
      List.of(ADMIN, "acme", "globex", "batcher", "consumer", "catalog", "gateway");

  private final KafkaClusterTestKit cluster;
  private final Map<String, Object> adminAuth; // empty: no authentication

  private TestKafkaCluster(KafkaClusterTestKit cluster, Map<String, Object> adminAuth) {
    this.cluster = cluster;
    this.adminAuth = adminAuth;
  }

  /** Formats and starts a broker on a random port and waits until it is ready (3-5 s). */
  public static TestKafkaCluster start() throws Exception {
    KafkaClusterTestKit.Builder b =
        new KafkaClusterTestKit.Builder(
            new TestKitNodes.Builder()
                .setCombined(true)
                .setNumBrokerNodes(1)
                .setNumControllerNodes(1)
                .build());
    for (var e : EmbeddedKafka.SINGLE_NODE.entrySet()) {
      b.setConfigProp(e.getKey(), e.getValue());
    }
    return started(b, Map.of());
  }

  /**
   * Formats and starts a broker whose listeners (client and controller) both take SASL/PLAIN only,
   * with the KRaft {@code StandardAuthorizer}: users {@link #SASL_USERS} (password {@link
   * #password}), super user {@link #ADMIN}, and nothing allowed to anyone else unless an ACL says
   * so ({@code allow.everyone.if.no.acl.found=false}). Clients connect with {@link #saslConfig}.
   */
  public static TestKafkaCluster startSasl() throws Exception {
    TestKitNodes nodes =
        new TestKitNodes.Builder()
            .setCombined(true)
            .setNumBrokerNodes(1)
            .setNumControllerNodes(1)
            .setBrokerSecurityProtocol(SecurityProtocol.SASL_PLAINTEXT)
            .setControllerSecurityProtocol(SecurityProtocol.SASL_PLAINTEXT)
            .build();
    KafkaClusterTestKit.Builder b = new KafkaClusterTestKit.Builder(nodes);
    for (var e : EmbeddedKafka.SINGLE_NODE.entrySet()) {
      b.setConfigProp(e.getKey(), e.getValue());
    }
    StringBuilder jaas =
        new StringBuilder(PLAIN_LOGIN)
            .append(" username=\"")
            .append(ADMIN)
            .append("\" password=\"")
            .append(password(ADMIN))
            .append('"');
    for (String user : SASL_USERS) {
      jaas.append(" user_").append(user).append("=\"").append(password(user)).append('"');
    }
    jaas.append(';');
    // per listener, so that it wins over the JAAS file the test kit writes for its own users
    for (var listener : List.of(nodes.brokerListenerName(), nodes.controllerListenerName())) {
      b.setConfigProp(
          "listener.name." + listener.value().toLowerCase(Locale.ROOT) + ".plain.sasl.jaas.config",
          jaas.toString());
    }
    b.setConfigProp("sasl.enabled.mechanisms", "PLAIN");
    b.setConfigProp("sasl.mechanism.inter.broker.protocol", "PLAIN");
    b.setConfigProp("sasl.mechanism.controller.protocol", "PLAIN");
    b.setConfigProp("authorizer.class.name", STANDARD_AUTHORIZER);
    b.setConfigProp("allow.everyone.if.no.acl.found", "false");
    b.setConfigProp("super.users", "User:" + ADMIN);
    return started(b, saslConfig(ADMIN));
  }

  private static TestKafkaCluster started(KafkaClusterTestKit.Builder b, Map<String, Object> auth)
      throws Exception {
    KafkaClusterTestKit c = b.build();
    c.format();
    c.startup();
    c.waitForReadyBrokers();
    return new TestKafkaCluster(c, auth);
  }

  /** KRaft's authorizer (in kafka-metadata, which is on the runtime class path only). */
  private static final String STANDARD_AUTHORIZER =
      "org.apache.kafka.metadata.authorizer.StandardAuthorizer";

  private static final String PLAIN_LOGIN =
      "org.apache.kafka.common.security.plain.PlainLoginModule required";

  /** The password of a {@link #startSasl} user: {@code <user>-secret}. */
  public static String password(String user) {
    return user + "-secret";
  }

  /**
   * Client settings that log in to a {@link #startSasl} broker as {@code user} (SASL/PLAIN), to be
   * merged with {@code bootstrap.servers}.
   */
  public static Map<String, Object> saslConfig(String user) {
    return Map.of(
        "security.protocol",
        "SASL_PLAINTEXT",
        "sasl.mechanism",
        "PLAIN",
        "sasl.jaas.config",
        PLAIN_LOGIN + " username=\"" + user + "\" password=\"" + password(user) + "\";");
  }

  /**
   * {@code bootstrap.servers} plus, on a {@link #startSasl} broker, the login of {@code user}: what
   * a Kafka client of that user needs.
   */
  public Map<String, Object> clientConfig(String user) {
    Map<String, Object> m = new HashMap<>();
    m.put("bootstrap.servers", bootstrapServers());
    if (!adminAuth.isEmpty()) {
      m.putAll(saslConfig(user));
    }
    return m;
  }

  public String bootstrapServers() {
    return cluster.bootstrapServers();
  }

  /** An admin client for this broker (the super user on a SASL one); the caller closes it. */
  public Admin admin() {
    return Admin.create(clientConfig(ADMIN));
  }

  /** Creates a topic and waits until it exists. */
  public void createTopic(String name, int partitions, Map<String, String> configs)
      throws Exception {
    try (Admin admin = admin()) {
      admin
          .createTopics(List.of(new NewTopic(name, partitions, (short) 1).configs(configs)))
          .all()
          .get(30, TimeUnit.SECONDS);
    }
  }

  @Override
  public void close() throws Exception {
    cluster.close();
  }
}
