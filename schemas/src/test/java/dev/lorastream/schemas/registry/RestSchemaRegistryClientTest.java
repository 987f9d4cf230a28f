package dev.lorastream.schemas.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lorastream.schemas.AdapterRecord;
import dev.lorastream.schemas.Fixtures;
import dev.lorastream.schemas.InferenceRequest;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.Topics;
import dev.lorastream.schemas.registry.FakeRegistryServer.Call;
import dev.lorastream.schemas.registry.FakeRegistryServer.Dialect;
import dev.lorastream.schemas.serde.AvroSerdeConfig;
import java.net.ServerSocket;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.avro.Schema;
import org.apache.avro.SchemaBuilder;
import org.apache.kafka.common.serialization.Serde;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class RestSchemaRegistryClientTest {

  private static final String SCOPE = "rest-backing";
  private static final Schema BREAKING =
      SchemaBuilder.record("AdapterRecord")
          .namespace("dev.lorastream.schemas")
          .fields()
          .requiredString("adapterId")
          .requiredString("region")
          .endRecord();

  @AfterEach
  void dropScope() {
    MockSchemaRegistry.dropScope(SCOPE);
  }

  @ParameterizedTest
  @EnumSource(Dialect.class)
  void speaksTheConfluentApi(Dialect dialect) throws Exception {
    try (var server = new FakeRegistryServer(dialect, SCOPE);
        var client = new RestSchemaRegistryClient(List.of(server.url() + "/"))) {
      String subject = "lora.adapters-value";
      assertTrue(
          client
              .testCompatibility(subject, AdapterRecord.getClassSchema())
              .compatible()); // new subject
      assertEquals(Optional.empty(), client.lookup(subject, AdapterRecord.getClassSchema()));

      int id = client.register(subject, AdapterRecord.getClassSchema());
      assertEquals(1, id);
      assertEquals(
          id, client.register(subject, AdapterRecord.getClassSchema())); // cached: no second POST
      assertEquals(Optional.empty(), client.lookup(subject, InferenceRequest.getClassSchema()));
      SchemaMetadata found = client.lookup(subject, AdapterRecord.getClassSchema()).orElseThrow();
      assertEquals(new SchemaMetadata(subject, 1, 1, AdapterRecord.getClassSchema()), found);
      assertEquals(
          new SchemaMetadata(subject, 1, 1, AdapterRecord.getClassSchema()),
          client.getLatest(subject));

      int otherId = server.registry.register("other-value", InferenceResult.getClassSchema());
      assertEquals(InferenceResult.getClassSchema(), client.getById(otherId));
      assertEquals(InferenceResult.getClassSchema(), client.getById(otherId)); // cached: one GET

      CompatibilityResult check = client.testCompatibility(subject, BREAKING);
      assertFalse(check.compatible());
      assertEquals(
          List.of(
              "new schema reading old data: READER_FIELD_MISSING_DEFAULT_VALUE at /fields/1: region"),
          check.messages());
      SchemaRegistryException refused =
          assertThrows(SchemaRegistryException.class, () -> client.register(subject, BREAKING));
      assertTrue(refused.isIncompatible());
      assertEquals(409, refused.errorCode()); // Apicurio sends error_code 0: the status stands in
      assertFalse(refused.isRetriable());

      client.setCompatibility(subject, CompatibilityLevel.NONE);
      assertTrue(client.testCompatibility(subject, BREAKING).compatible());

      SchemaRegistryException missing =
          assertThrows(SchemaRegistryException.class, () -> client.getById(4242));
      assertEquals(404, missing.httpStatus());
      assertEquals(40403, missing.errorCode());
      assertTrue(missing.isNotFound());

      long registers =
          server.calls.stream()
              .filter(c -> c.path().endsWith("/versions") && c.method().equals("POST"))
              .count();
      assertEquals(2, registers); // the first and the refused one
      assertEquals(
          1,
          server.calls.stream().filter(c -> c.path().endsWith("/schemas/ids/" + otherId)).count());
      for (Call call : server.calls) {
        if (!call.method().equals("GET")) {
          assertEquals(RestSchemaRegistryClient.CONTENT_TYPE, call.contentType(), call.toString());
        }
      }
      Call put =
          server.calls.stream().filter(c -> c.method().equals("PUT")).findFirst().orElseThrow();
      assertEquals(
          server.url().replaceFirst("http://[^/]+", "") + "/config/lora.adapters-value",
          put.path());
      assertEquals(
          Map.of("compatibility", "NONE"), new ObjectMapper().readValue(put.body(), Map.class));
    }
  }

  @Test
  void serdeRoundTripsOverHttp() throws Exception {
    try (var server = new FakeRegistryServer(Dialect.APICURIO, SCOPE);
        Serde<InferenceRequest> serde =
            Topics.REQUESTS.valueSerde(Map.of(AvroSerdeConfig.SCHEMA_REGISTRY_URL, server.url()))) {
      InferenceRequest request = Fixtures.request("r-1", "poet");
      byte[] bytes = serde.serializer().serialize(Topics.REQUESTS.name(), request);
      assertEquals(request, serde.deserializer().deserialize(Topics.REQUESTS.name(), bytes));
      assertEquals(List.of("lora.requests-value"), server.registry.subjects());
    }
  }

  @Test
  void failsOverToTheNextUrlAndReportsHttpErrors() throws Exception {
    int deadPort;
    try (ServerSocket socket = new ServerSocket(0)) {
      deadPort = socket.getLocalPort();
    }
    try (var server = new FakeRegistryServer(Dialect.CONFLUENT, SCOPE);
        var client =
            (RestSchemaRegistryClient)
                SchemaRegistryClient.forUrl(
                    "http://127.0.0.1:" + deadPort + " , " + server.url())) {
      assertEquals(2, client.baseUrls().size());
      assertEquals(1, client.register("s-value", AdapterRecord.getClassSchema()));

      // An unknown route answers 500 with an HTML body: status, code and a one-line snippet.
      SchemaRegistryException e =
          assertThrows(
              SchemaRegistryException.class, () -> client.getLatest("s-value/../../nowhere"));
      assertEquals(404, e.httpStatus()); // encoded slashes keep it one subject
      SchemaRegistryException html =
          assertThrows(
              SchemaRegistryException.class,
              () -> new RestSchemaRegistryClient(List.of(server.url() + "/nope")).getById(1));
      assertEquals(500, html.httpStatus());
      assertTrue(html.isRetriable());
      assertTrue(
          html.getMessage()
              .contains(
                  "<html><body>Internal Server Error: GET /nope/schemas/ids/1</body></html>"
                      + " (http 500, error_code 500)"),
          html.getMessage());
    }
  }

  @Test
  void aRegistrationThatLostAConcurrentRaceReturnsTheWinnersId() throws Exception {
    try (var server = new FakeRegistryServer(Dialect.APICURIO, SCOPE);
        var client = new RestSchemaRegistryClient(List.of(server.url()))) {
      server.racedRegistrations.set(1);
      int id = client.register("lora.requests-value", InferenceRequest.getClassSchema());
      assertEquals(
          server
              .registry
              .lookup("lora.requests-value", InferenceRequest.getClassSchema())
              .get()
              .id(),
          id);
      assertEquals(
          List.of("POST", "POST"), server.calls.stream().map(Call::method).toList()); // + lookup
    }
  }

  @Test
  void aServerErrorOnRegistrationIsTriedOnceMoreThenReported() throws Exception {
    try (var server = new FakeRegistryServer(Dialect.CONFLUENT, SCOPE);
        var client = new RestSchemaRegistryClient(List.of(server.url()))) {
      server.failedRegistrations.set(1);
      assertEquals(1, client.register("a-value", AdapterRecord.getClassSchema()));
      server.failedRegistrations.set(2);
      SchemaRegistryException e =
          assertThrows(
              SchemaRegistryException.class,
              () -> client.register("b-value", InferenceResult.getClassSchema()));
      assertEquals(500, e.httpStatus());
    }
  }

  @Test
  void subjectsArePercentEncoded() {
    assertEquals("lora.requests-value", RestSchemaRegistryClient.encode("lora.requests-value"));
    assertEquals("a%2Fb%20c%C3%A9", RestSchemaRegistryClient.encode("a/b cé"));
  }

  @Test
  void forUrlPicksTheImplementation() {
    assertTrue(SchemaRegistryClient.forUrl("mock://x") instanceof MockSchemaRegistry);
    assertThrows(IllegalArgumentException.class, () -> SchemaRegistryClient.forUrl(" , "));
    assertThrows(
        IllegalArgumentException.class, () -> SchemaRegistryClient.forUrl("mock://a,mock://b"));
    MockSchemaRegistry.dropScope("x");
  }
}
