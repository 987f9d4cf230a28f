package dev.lorastream.schemas.registry;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.avro.Schema;
import org.apache.avro.SchemaNormalization;

/**
 * An in-process schema registry for {@code mock://scope} urls: the embedded demo and unit tests.
 * Every client of one scope name sees the same registry (a static map), so a producer's serializer
 * and a consumer's deserializer in one JVM agree on ids.
 *
 * <p>Behaves like Confluent's: ids start at 1 and are global across subjects; the same schema gets
 * the same id (identity is Avro's parsing canonical form, {@link
 * SchemaNormalization#parsingFingerprint64}, so two schemas that differ only in docs or defaults
 * share an id and a version); compatibility defaults to BACKWARD and is checked with Avro's {@code
 * SchemaCompatibility}. Thread-safe (one lock per scope).
 */
public final class MockSchemaRegistry implements SchemaRegistryClient {

  /** The url prefix; what follows it is the scope name. */
  public static final String URL_PREFIX = "mock://";

  private static final ConcurrentHashMap<String, MockSchemaRegistry> SCOPES =
      new ConcurrentHashMap<>();

  private final String scope;
  private final Map<Long, Integer> idByFingerprint = new HashMap<>();
  private final Map<Integer, Schema> schemaById = new HashMap<>();
  private final Map<String, List<Integer>> idsBySubject =
      new HashMap<>(); // subject -> ids, version 1 first
  private final Map<String, CompatibilityLevel> levelBySubject = new HashMap<>();
  private CompatibilityLevel globalLevel = CompatibilityLevel.BACKWARD;
  private int nextId = 1;

  private MockSchemaRegistry(String scope) {
    this.scope = scope;
  }

  /** The registry of a scope, created empty on first use. */
  public static MockSchemaRegistry forScope(String scope) {
    return SCOPES.computeIfAbsent(scope, MockSchemaRegistry::new);
  }

  /** Forgets a scope; the next {@link #forScope} of that name starts empty. For tests. */
  public static void dropScope(String scope) {
    SCOPES.remove(scope);
  }

  /** The {@code mock://} url of this registry. */
  public String url() {
    return URL_PREFIX + scope;
  }

  /** Sets the level used by subjects without their own ({@code PUT /config}). */
  public synchronized void setGlobalCompatibility(CompatibilityLevel level) {
    globalLevel = level;
  }

  @Override
  public synchronized int register(String subject, Schema schema) {
    Optional<SchemaMetadata> existing = lookup(subject, schema);
    if (existing.isPresent()) {
      return existing.get().id();
    }
    List<String> problems = levelOf(subject).check(schemasOf(subject), schema);
    if (!problems.isEmpty()) {
      throw new SchemaRegistryException(
          409,
          409,
          "Schema being registered is incompatible with an earlier schema"
              + " for subject \""
              + subject
              + "\" ("
              + levelOf(subject)
              + "): "
              + String.join("; ", problems));
    }
    int id =
        idByFingerprint.computeIfAbsent(
            SchemaNormalization.parsingFingerprint64(schema), f -> nextId++);
    schemaById.putIfAbsent(id, schema);
    idsBySubject.computeIfAbsent(subject, s -> new ArrayList<>()).add(id);
    return id;
  }

  @Override
  public synchronized Optional<SchemaMetadata> lookup(String subject, Schema schema) {
    Integer id = idByFingerprint.get(SchemaNormalization.parsingFingerprint64(schema));
    List<Integer> ids = idsBySubject.getOrDefault(subject, List.of());
    int index = id == null ? -1 : ids.indexOf(id);
    return index < 0
        ? Optional.empty()
        : Optional.of(new SchemaMetadata(subject, id, index + 1, schemaById.get(id)));
  }

  @Override
  public synchronized Schema getById(int id) {
    Schema schema = schemaById.get(id);
    if (schema == null) {
      throw new SchemaRegistryException(404, 40403, "Schema " + id + " not found in " + url());
    }
    return schema;
  }

  @Override
  public synchronized SchemaMetadata getLatest(String subject) {
    List<Integer> ids = idsBySubject.get(subject);
    if (ids == null || ids.isEmpty()) {
      throw new SchemaRegistryException(
          404, 40401, "Subject '" + subject + "' not found in " + url());
    }
    return new SchemaMetadata(subject, ids.getLast(), ids.size(), schemaById.get(ids.getLast()));
  }

  @Override
  public synchronized CompatibilityResult testCompatibility(String subject, Schema schema) {
    List<String> problems = levelOf(subject).check(schemasOf(subject), schema);
    return new CompatibilityResult(problems.isEmpty(), problems);
  }

  @Override
  public synchronized void setCompatibility(String subject, CompatibilityLevel level) {
    levelBySubject.put(subject, level);
  }

  /** Subjects that hold at least one schema, for tests and the demo's status page. */
  public synchronized List<String> subjects() {
    return idsBySubject.keySet().stream().sorted().toList();
  }

  private CompatibilityLevel levelOf(String subject) {
    return levelBySubject.getOrDefault(subject, globalLevel);
  }

  private List<Schema> schemasOf(String subject) {
    return idsBySubject.getOrDefault(subject, List.of()).stream().map(schemaById::get).toList();
  }
}
