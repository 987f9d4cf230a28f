package dev.lorastream.schemas.registry;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.avro.Schema;

/**
 * A tiny HTTP server speaking the Confluent REST API on top of a {@link MockSchemaRegistry}, in
 * Confluent's dialect or Apicurio ccompat's (under {@code /apis/ccompat/v7}, {@code error_code: 0}
 * on 409, 40401 for a schema missing from a subject, 40402 for a missing subject, 404 from a
 * compatibility check of a new subject). Records every request.
 */
final class FakeRegistryServer implements AutoCloseable {

  enum Dialect {
    CONFLUENT,
    APICURIO
  }

  record Call(String method, String path, String contentType, String body) {}

  private static final ObjectMapper JSON = new ObjectMapper();

  final List<Call> calls = new CopyOnWriteArrayList<>();

  /**
   * Registrations to answer as Apicurio 2.x answers the loser of two concurrent registrations of
   * the same content: the schema is stored (by the winner) and the request gets a 500.
   */
  final java.util.concurrent.atomic.AtomicInteger racedRegistrations =
      new java.util.concurrent.atomic.AtomicInteger();

  /** Registrations to answer 500 without storing anything. */
  final java.util.concurrent.atomic.AtomicInteger failedRegistrations =
      new java.util.concurrent.atomic.AtomicInteger();

  final MockSchemaRegistry registry;
  private final Dialect dialect;
  private final HttpServer server;
  private final String prefix;

  FakeRegistryServer(Dialect dialect, String scope) throws IOException {
    this.dialect = dialect;
    this.registry = MockSchemaRegistry.forScope(scope);
    this.prefix = dialect == Dialect.APICURIO ? "/apis/ccompat/v7" : "";
    this.server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    server.createContext("/", this::handle);
    server.start();
  }

  String url() {
    return "http://127.0.0.1:" + server.getAddress().getPort() + prefix;
  }

  @Override
  public void close() {
    server.stop(0);
  }

  private void handle(HttpExchange exchange) throws IOException {
    String method = exchange.getRequestMethod();
    String path = exchange.getRequestURI().getRawPath();
    String body = new String(exchange.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
    calls.add(new Call(method, path, exchange.getRequestHeaders().getFirst("Content-Type"), body));
    int status = 200;
    String answer;
    try {
      answer = route(method, path.substring(prefix.length()), body);
    } catch (SchemaRegistryException e) {
      status = e.httpStatus();
      int code = dialect == Dialect.APICURIO && status == 409 ? 0 : e.errorCode();
      answer =
          JSON.createObjectNode().put("error_code", code).put("message", e.getMessage()).toString();
    } catch (UnsupportedOperationException e) {
      status = 500;
      answer = "<html><body>Internal Server Error: " + e.getMessage() + "</body></html>";
    }
    byte[] bytes = answer.getBytes(StandardCharsets.UTF_8);
    exchange.getResponseHeaders().set("Content-Type", RestSchemaRegistryClient.CONTENT_TYPE);
    exchange.sendResponseHeaders(status, bytes.length);
    exchange.getResponseBody().write(bytes);
    exchange.close();
  }

  private String route(String method, String path, String body) throws IOException {
    Matcher m;
    if (method.equals("POST") && (m = match("/subjects/([^/]+)/versions", path)) != null) {
      if (failedRegistrations.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
        throw new SchemaRegistryException(500, 500, "Internal Server Error");
      }
      if (racedRegistrations.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
        registry.register(subject(m), schema(body));
        throw new SchemaRegistryException(
            500,
            500,
            "Unique index or primary key violation: \"PUBLIC.UNQ_CONTENT_1_INDEX_6\"; SQL"
                + " statement: INSERT INTO content ... [23505-220]");
      }
      return JSON.createObjectNode()
          .put("id", registry.register(subject(m), schema(body)))
          .toString();
    }
    if (method.equals("POST") && (m = match("/subjects/([^/]+)", path)) != null) {
      String subject = subject(m);
      SchemaMetadata found =
          registry.lookup(subject, schema(body)).orElseThrow(() -> notFound(subject));
      return metadata(found).toString();
    }
    if (method.equals("GET") && (m = match("/schemas/ids/(\\d+)", path)) != null) {
      Schema schema = registry.getById(Integer.parseInt(m.group(1)));
      return JSON.createObjectNode().put("schema", schema.toString()).toString();
    }
    if (method.equals("GET") && (m = match("/subjects/([^/]+)/versions/latest", path)) != null) {
      return metadata(registry.getLatest(subject(m))).toString();
    }
    if (method.equals("POST")
        && (m = match("/compatibility/subjects/([^/]+)/versions/latest", path)) != null) {
      String subject = subject(m);
      if (dialect == Dialect.APICURIO && !registry.subjects().contains(subject)) {
        throw new SchemaRegistryException(
            404, 40402, "No artifact with ID '" + subject + "' in group 'null' was found.");
      }
      CompatibilityResult result = registry.testCompatibility(subject, schema(body));
      ObjectNode json = JSON.createObjectNode().put("is_compatible", result.compatible());
      result.messages().forEach(json.putArray("messages")::add);
      return json.toString();
    }
    if (method.equals("PUT") && (m = match("/config/([^/]+)", path)) != null) {
      String level = JSON.readTree(body).get("compatibility").asText();
      registry.setCompatibility(subject(m), CompatibilityLevel.valueOf(level));
      return JSON.createObjectNode().put("compatibility", level).toString();
    }
    throw new UnsupportedOperationException(method + " " + path);
  }

  private SchemaRegistryException notFound(String subject) {
    boolean known = registry.subjects().contains(subject);
    if (dialect == Dialect.APICURIO) {
      return known
          ? new SchemaRegistryException(404, 40401, "No artifact version matches")
          : new SchemaRegistryException(
              404, 40402, "No artifact with ID '" + subject + "' was found.");
    }
    return known
        ? new SchemaRegistryException(404, 40403, "Schema not found")
        : new SchemaRegistryException(404, 40401, "Subject '" + subject + "' not found.");
  }

  private static ObjectNode metadata(SchemaMetadata m) {
    return JSON.createObjectNode()
        .put("subject", m.subject())
        .put("id", m.id())
        .put("version", m.version())
        .put("schema", m.schema().toString());
  }

  private static Matcher match(String regex, String path) {
    Matcher m = Pattern.compile(regex).matcher(path);
    return m.matches() ? m : null;
  }

  private static String subject(Matcher m) {
    return URLDecoder.decode(m.group(1), StandardCharsets.UTF_8);
  }

  private static Schema schema(String body) throws IOException {
    JsonNode json = JSON.readTree(body);
    return new Schema.Parser().parse(json.get("schema").asText());
  }
}
