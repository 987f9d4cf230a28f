package dev.lorastream.schemas.registry;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.avro.Schema;

/**
 * A {@link SchemaRegistryClient} speaking the Confluent Schema Registry REST API over {@code
 * java.net.http}, content type {@code application/vnd.schemaregistry.v1+json}. Works against
 * Confluent Schema Registry, Karapace and Apicurio's ccompat API ({@code
 * http://host:port/apis/ccompat/v7}).
 *
 * <p>Caches ids by schema (register, lookup) and schemas by id, so a steady-state serde makes no
 * calls. Tolerates Apicurio's differences: {@code error_code: 0} (the HTTP status is used instead),
 * other 404 codes for missing subjects and schemas (every 404 of a lookup means "not there"), 404
 * from a compatibility check of a new subject (compatible). Thread-safe.
 */
public final class RestSchemaRegistryClient implements SchemaRegistryClient {

  /** The Confluent REST content type, sent and accepted. */
  public static final String CONTENT_TYPE = "application/vnd.schemaregistry.v1+json";

  private static final ObjectMapper JSON = new ObjectMapper();

  private final List<String> baseUrls; // without a trailing slash
  private final Duration timeout;
  private final HttpClient http;
  private final Map<Integer, Schema> schemaById = new ConcurrentHashMap<>();
  private final Map<String, Map<Schema, Integer>> idBySubjectSchema = new ConcurrentHashMap<>();

  /**
   * A client for one or more base urls, e.g. {@code http://localhost:8081}, with a 30 s request
   * timeout.
   */
  public RestSchemaRegistryClient(List<String> baseUrls) {
    this(baseUrls, Duration.ofSeconds(30));
  }

  public RestSchemaRegistryClient(List<String> baseUrls, Duration timeout) {
    if (baseUrls.isEmpty()) {
      throw new IllegalArgumentException("no schema registry url");
    }
    List<String> clean = new ArrayList<>();
    for (String url : baseUrls) {
      URI uri = URI.create(url.trim());
      if (!"http".equals(uri.getScheme()) && !"https".equals(uri.getScheme())) {
        throw new IllegalArgumentException(
            "schema registry url must be http(s):// or mock://, got: " + url);
      }
      clean.add(url.trim().replaceAll("/+$", ""));
    }
    this.baseUrls = List.copyOf(clean);
    this.timeout = timeout;
    this.http = HttpClient.newBuilder().connectTimeout(timeout).build();
  }

  /** The base urls, in the order they are tried. */
  public List<String> baseUrls() {
    return baseUrls;
  }

  @Override
  public int register(String subject, Schema schema) {
    Integer cached = cachedId(subject, schema);
    if (cached != null) {
      return cached;
    }
    String path = "/subjects/" + encode(subject) + "/versions";
    JsonNode body;
    try {
      body = call("POST", path, schemaBody(schema));
    } catch (SchemaRegistryException e) {
      if (e.httpStatus() / 100 != 5) {
        throw e;
      }
      // Apicurio 2.x answers 500 (a unique-key violation on its content table) to the loser of two
      // concurrent registrations of the same schema (Apicurio/apicurio-registry#5162): the winner
      // has registered it, so a lookup finds it. Anything else gets one more try.
      Optional<SchemaMetadata> found = lookup(subject, schema);
      if (found.isPresent()) {
        return found.get().id();
      }
      body = call("POST", path, schemaBody(schema));
    }
    int id = requiredInt(body, "id", "register under " + subject);
    remember(subject, schema, id);
    return id;
  }

  @Override
  public Optional<SchemaMetadata> lookup(String subject, Schema schema) {
    JsonNode body;
    try {
      body = call("POST", "/subjects/" + encode(subject), schemaBody(schema));
    } catch (SchemaRegistryException e) {
      if (e.isNotFound()) { // Confluent 40401/40403, Apicurio 40401/40402
        return Optional.empty();
      }
      throw e;
    }
    int id = requiredInt(body, "id", "lookup under " + subject);
    remember(subject, schema, id);
    schemaById.putIfAbsent(id, schema);
    return Optional.of(new SchemaMetadata(subject, id, body.path("version").asInt(0), schema));
  }

  @Override
  public Schema getById(int id) {
    Schema cached = schemaById.get(id);
    if (cached != null) {
      return cached;
    }
    JsonNode body = call("GET", "/schemas/ids/" + id, null);
    Schema schema = parseAvro(body, "schema id " + id);
    schemaById.putIfAbsent(id, schema);
    return schema;
  }

  @Override
  public SchemaMetadata getLatest(String subject) {
    JsonNode body = call("GET", "/subjects/" + encode(subject) + "/versions/latest", null);
    int id = requiredInt(body, "id", "latest of " + subject);
    Schema schema = parseAvro(body, "latest of " + subject);
    schemaById.putIfAbsent(id, schema);
    return new SchemaMetadata(subject, id, body.path("version").asInt(0), schema);
  }

  @Override
  public CompatibilityResult testCompatibility(String subject, Schema schema) {
    JsonNode body;
    try {
      body =
          call(
              "POST",
              "/compatibility/subjects/" + encode(subject) + "/versions/latest?verbose=true",
              schemaBody(schema));
    } catch (SchemaRegistryException e) {
      if (e.isNotFound()) { // no version yet: anything is compatible
        return CompatibilityResult.ok();
      }
      throw e;
    }
    JsonNode flag = body.get("is_compatible");
    if (flag == null || !flag.isBoolean()) {
      throw new SchemaRegistryException(
          200, 0, "compatibility answer for " + subject + " lacks is_compatible: " + body);
    }
    List<String> messages = new ArrayList<>();
    body.path("messages").forEach(m -> messages.add(m.asText()));
    return new CompatibilityResult(flag.asBoolean(), messages);
  }

  @Override
  public void setCompatibility(String subject, CompatibilityLevel level) {
    ObjectNode body = JSON.createObjectNode().put("compatibility", level.name());
    call("PUT", "/config/" + encode(subject), body.toString());
  }

  @Override
  public void close() {
    http.close();
  }

  private Integer cachedId(String subject, Schema schema) {
    Map<Schema, Integer> ids = idBySubjectSchema.get(subject);
    return ids == null ? null : ids.get(schema);
  }

  private void remember(String subject, Schema schema, int id) {
    idBySubjectSchema.computeIfAbsent(subject, s -> new ConcurrentHashMap<>()).put(schema, id);
  }

  private static String schemaBody(Schema schema) {
    // schemaType is left out: every registry reads its absence as AVRO, and older ones reject the
    // field.
    return JSON.createObjectNode().put("schema", schema.toString()).toString();
  }

  private static Schema parseAvro(JsonNode body, String what) {
    String type = body.path("schemaType").asText("AVRO");
    if (!"AVRO".equalsIgnoreCase(type)) {
      throw new SchemaRegistryException(200, 0, what + " is a " + type + " schema, not AVRO");
    }
    JsonNode text = body.get("schema");
    if (text == null || !text.isTextual()) {
      throw new SchemaRegistryException(200, 0, "answer for " + what + " lacks a schema: " + body);
    }
    try {
      return new Schema.Parser().parse(text.asText());
    } catch (RuntimeException e) {
      throw new SchemaRegistryException(
          200,
          0,
          "registry returned an unparsable Avro schema for " + what + ": " + e.getMessage(),
          e);
    }
  }

  private static int requiredInt(JsonNode body, String field, String what) {
    JsonNode node = body.get(field);
    if (node == null || !node.canConvertToInt()) {
      throw new SchemaRegistryException(
          200, 0, "answer to " + what + " lacks an integer \"" + field + "\": " + body);
    }
    return node.asInt();
  }

  /** Path segment percent-encoding (RFC 3986 unreserved characters pass). */
  static String encode(String segment) {
    StringBuilder out = new StringBuilder();
    for (byte b : segment.getBytes(StandardCharsets.UTF_8)) {
      char c = (char) (b & 0xff);
      if ((c >= 'a' && c <= 'z')
          || (c >= 'A' && c <= 'Z')
          || (c >= '0' && c <= '9')
          || "-._~".indexOf(c) >= 0) {
        out.append(c);
      } else {
        out.append('%').append(String.format("%02X", b & 0xff));
      }
    }
    return out.toString();
  }

  /** One call, trying each base url in turn while they cannot be reached. */
  private JsonNode call(String method, String path, String body) {
    IOException lastIo = null;
    for (String base : baseUrls) {
      HttpRequest.Builder request =
          HttpRequest.newBuilder(URI.create(base + path))
              .timeout(timeout)
              .header("Accept", CONTENT_TYPE + ", application/json");
      if (body == null) {
        request.method(method, HttpRequest.BodyPublishers.noBody());
      } else {
        request
            .header("Content-Type", CONTENT_TYPE)
            .method(method, HttpRequest.BodyPublishers.ofString(body, StandardCharsets.UTF_8));
      }
      HttpResponse<String> response;
      try {
        response =
            http.send(request.build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
      } catch (IOException e) {
        lastIo = e;
        continue;
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new SchemaRegistryException(0, 0, method + " " + base + path + " interrupted", e);
      }
      return answer(method, base + path, response);
    }
    throw new SchemaRegistryException(
        0,
        0,
        "schema registry unreachable at "
            + String.join(", ", baseUrls)
            + " ("
            + method
            + " "
            + path
            + "): "
            + lastIo,
        lastIo);
  }

  private static JsonNode answer(String method, String url, HttpResponse<String> response) {
    int status = response.statusCode();
    JsonNode json;
    try {
      json = response.body().isBlank() ? JSON.createObjectNode() : JSON.readTree(response.body());
    } catch (IOException e) {
      json = null;
    }
    if (status / 100 == 2) {
      if (json == null) {
        throw new SchemaRegistryException(
            status, 0, method + " " + url + " returned non-JSON: " + snippet(response.body()));
      }
      return json;
    }
    int code = json == null ? 0 : json.path("error_code").asInt(0);
    String message =
        json == null
            ? snippet(response.body())
            : json.path("message").asText(snippet(response.body()));
    throw new SchemaRegistryException(status, code, method + " " + url + ": " + message);
  }

  private static String snippet(String body) {
    String oneLine = body.replaceAll("\\s+", " ").strip();
    return oneLine.length() <= 200 ? oneLine : oneLine.substring(0, 200) + "...";
  }
}
