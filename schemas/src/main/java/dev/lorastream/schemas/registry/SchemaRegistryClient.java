package dev.lorastream.schemas.registry;

import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import org.apache.avro.Schema;

/**
 * The part of the Confluent Schema Registry API that the Avro serde and the operators' tools need.
 * Two implementations: {@link RestSchemaRegistryClient} (Confluent, Apicurio's ccompat API,
 * Karapace) and {@link MockSchemaRegistry} (in-process, {@code mock://scope}). Implementations are
 * thread-safe.
 *
 * <p>Every method throws {@link SchemaRegistryException} when the registry refuses or cannot be
 * reached.
 */
public interface SchemaRegistryClient extends AutoCloseable {

  /**
   * Registers a schema under a subject ({@code POST /subjects/{s}/versions}), or finds it if the
   * subject already has it.
   *
   * @return the global schema id
   * @throws SchemaRegistryException {@link SchemaRegistryException#isIncompatible() 409} when the
   *     subject's compatibility level refuses it
   */
  int register(String subject, Schema schema);

  /**
   * Finds a schema under a subject without registering it ({@code POST /subjects/{s}}).
   *
   * @return its id and version, or empty when the subject does not exist or does not hold this
   *     schema
   */
  Optional<SchemaMetadata> lookup(String subject, Schema schema);

  /**
   * The schema with a global id ({@code GET /schemas/ids/{id}}); cached, ids never change.
   *
   * @throws SchemaRegistryException {@link SchemaRegistryException#isNotFound() 404} for an unknown
   *     id
   */
  Schema getById(int id);

  /**
   * The latest version under a subject ({@code GET /subjects/{s}/versions/latest}).
   *
   * @throws SchemaRegistryException 404 when the subject does not exist
   */
  SchemaMetadata getLatest(String subject);

  /**
   * Whether a schema could be registered under a subject ({@code POST
   * /compatibility/subjects/{s}/versions/latest}); a subject that does not exist yet accepts
   * anything.
   */
  CompatibilityResult testCompatibility(String subject, Schema schema);

  /** Sets a subject's compatibility level ({@code PUT /config/{s}}). */
  void setCompatibility(String subject, CompatibilityLevel level);

  /** Releases connections; a no-op for the mock. */
  @Override
  default void close() {}

  /**
   * A client for a {@code schema.registry.url} value: {@code mock://scope} gives the in-process
   * registry of that scope; {@code http(s)://host:port[/path]}, or several of them comma-separated
   * (tried in order when one cannot be reached), gives a REST client.
   *
   * @throws IllegalArgumentException for anything else
   */
  static SchemaRegistryClient forUrl(String url) {
    List<String> urls =
        Arrays.stream(url.split(",")).map(String::trim).filter(s -> !s.isEmpty()).toList();
    if (urls.isEmpty()) {
      throw new IllegalArgumentException("schema registry url is empty");
    }
    if (urls.getFirst().startsWith(MockSchemaRegistry.URL_PREFIX)) {
      if (urls.size() > 1) {
        throw new IllegalArgumentException(
            "a mock:// schema registry url takes one scope, got: " + url);
      }
      return MockSchemaRegistry.forScope(
          urls.getFirst().substring(MockSchemaRegistry.URL_PREFIX.length()));
    }
    return new RestSchemaRegistryClient(urls);
  }
}
