package dev.lorastream.schemas.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lorastream.devstack.RegistryProcess;
import dev.lorastream.schemas.Fixtures;
import dev.lorastream.schemas.Topic;
import dev.lorastream.schemas.Topics;
import dev.lorastream.schemas.serde.AvroSerdeConfig;
import dev.lorastream.schemas.serde.WireFormat;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.apache.avro.Schema;
import org.apache.avro.SchemaBuilder;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.common.serialization.Serde;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * Against a real registry: Apicurio Registry 2.4.2 (built by the {@code registry/} module) through
 * its Confluent-compatible API, and Debian's python3-confluent-kafka reading what we registered.
 * Skipped, with the reason, when the runner jar or the Python package is absent; {@link
 * RestSchemaRegistryClientTest} covers the same calls everywhere against an in-test server.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ApicurioRegistryTest {

  /** The runner jar; override with -Dlorastream.registry.jar=PATH. */
  private static final Path JAR = RegistryProcess.DEFAULT_JAR;

  private static final String PYTHON = "/usr/bin/python3";

  private RegistryProcess registry;
  private String url;
  private final Map<String, Integer> ids = new LinkedHashMap<>(); // subject -> id we registered

  @BeforeAll
  void startRegistry() throws Exception {
    if (!RegistryProcess.available(JAR)) {
      return; // each test skips, naming the jar
    }
    registry = RegistryProcess.start(JAR);
    url = registry.url();
  }

  /** Skips the calling test, with the reason, when there is no runner jar. */
  private void assumeRegistry() {
    Assumptions.assumeTrue(
        url != null,
        "no Apicurio runner at "
            + JAR.toAbsolutePath()
            + ": build it with ./mvnw -f registry/pom.xml package");
  }

  @AfterAll
  void stopRegistry() {
    if (registry != null) {
      registry.close();
    }
  }

  private static final List<Topic<String, ? extends SpecificRecord>> AVRO_TOPICS =
      List.of(Topics.REQUESTS, Topics.BATCHES, Topics.REPLIES, Topics.ADAPTERS);

  private static Schema schemaOf(Topic<?, ?> topic) {
    return org.apache.avro.specific.SpecificData.get().getSchema(topic.valueType());
  }

  @Test
  @Order(1)
  void registersTheFourSchemas() {
    assumeRegistry();
    try (var client = new RestSchemaRegistryClient(List.of(url))) {
      for (Topic<String, ? extends SpecificRecord> topic : AVRO_TOPICS) {
        String subject = topic.valueSubject();
        assertEquals(Optional.empty(), client.lookup(subject, schemaOf(topic)));
        assertTrue(client.testCompatibility(subject, schemaOf(topic)).compatible());
        int id = client.register(subject, schemaOf(topic));
        client.setCompatibility(
            subject, CompatibilityLevel.BACKWARD); // Apicurio's global default is NONE
        ids.put(subject, id);
      }
    }
    try (var fresh = new RestSchemaRegistryClient(List.of(url))) { // no caches
      for (Topic<String, ? extends SpecificRecord> topic : AVRO_TOPICS) {
        int id = ids.get(topic.valueSubject());
        assertEquals(schemaOf(topic), fresh.getById(id));
        SchemaMetadata found = fresh.lookup(topic.valueSubject(), schemaOf(topic)).orElseThrow();
        assertEquals(id, found.id());
        assertEquals(id, fresh.getLatest(topic.valueSubject()).id());
      }
      SchemaRegistryException missing =
          assertThrows(SchemaRegistryException.class, () -> fresh.getById(987_654));
      assertTrue(missing.isNotFound(), missing.getMessage());
    }
  }

  @Test
  @Order(2)
  void refusesAnIncompatibleChange() {
    assumeRegistry();
    Schema breaking =
        SchemaBuilder.record("AdapterRecord")
            .namespace("dev.lorastream.schemas")
            .fields()
            .requiredString("adapterId")
            .requiredString("region")
            .endRecord();
    try (var client = new RestSchemaRegistryClient(List.of(url))) {
      assertFalse(client.testCompatibility(Topics.ADAPTERS.valueSubject(), breaking).compatible());
      SchemaRegistryException e =
          assertThrows(
              SchemaRegistryException.class,
              () -> client.register(Topics.ADAPTERS.valueSubject(), breaking));
      assertTrue(e.isIncompatible(), e.getMessage());
      assertEquals(409, e.errorCode(), e.getMessage());
    }
  }

  @Test
  @Order(3)
  void recordsRoundTripThroughTheSerde() {
    assumeRegistry();
    Map<String, Object> config = Map.of(AvroSerdeConfig.SCHEMA_REGISTRY_URL, url);
    roundTrip(Topics.REQUESTS, Fixtures.request("r-1", "poet"), config);
    roundTrip(Topics.BATCHES, Fixtures.batch(), config);
    roundTrip(Topics.REPLIES, Fixtures.errorResult(), config);
    roundTrip(Topics.ADAPTERS, Fixtures.adapter(), config);
  }

  private <V extends SpecificRecord> void roundTrip(
      Topic<String, V> topic, V value, Map<String, Object> config) {
    try (Serde<V> serde = topic.valueSerde(config)) {
      byte[] bytes = serde.serializer().serialize(topic.name(), value);
      if (ids.containsKey(topic.valueSubject())) {
        assertEquals(ids.get(topic.valueSubject()), WireFormat.schemaId(bytes));
      }
      assertEquals(value, serde.deserializer().deserialize(topic.name(), bytes));
    }
  }

  @Test
  @Order(4)
  void pythonConfluentKafkaReadsWhatWeRegistered() throws Exception {
    assumeRegistry();
    Assumptions.assumeTrue(
        pythonHasConfluentKafka(),
        PYTHON
            + " cannot import confluent_kafka: "
            + "apt-get install -y python3-confluent-kafka (scripts/ensure-python-ref.sh does)");
    List<String> command = new ArrayList<>(List.of(PYTHON, "src/test/python/sr_read.py", url));
    AVRO_TOPICS.forEach(t -> command.add(t.valueSubject()));
    Process python = new ProcessBuilder(command).redirectErrorStream(true).start();
    String output = new String(python.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(python.waitFor(60, TimeUnit.SECONDS));
    assertEquals(0, python.exitValue(), output);
    JsonNode json = new ObjectMapper().readTree(output);
    for (Topic<String, ? extends SpecificRecord> topic : AVRO_TOPICS) {
      JsonNode read = json.get("read").get(topic.valueSubject());
      assertEquals(ids.get(topic.valueSubject()).intValue(), read.get("id").asInt(), output);
      assertEquals(read.get("id").asInt(), read.get("lookup_id").asInt(), output);
      assertEquals(topic.valueType().getName(), read.get("name").asText(), output);
      assertTrue(read.get("compatible_with_itself").asBoolean(), output);
    }
  }

  private static boolean pythonHasConfluentKafka() throws InterruptedException {
    try {
      Process p =
          new ProcessBuilder(PYTHON, "-c", "import confluent_kafka.schema_registry").start();
      return p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0;
    } catch (IOException e) {
      return false;
    }
  }
}
