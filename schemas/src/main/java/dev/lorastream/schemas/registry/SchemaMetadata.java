package dev.lorastream.schemas.registry;

import java.util.Objects;
import org.apache.avro.Schema;

/**
 * One version of a schema under a subject, as the registry reports it.
 *
 * @param subject the subject, e.g. {@code lora.requests-value}
 * @param id the global schema id (the one in the wire format)
 * @param version the version within the subject, from 1
 * @param schema the parsed Avro schema
 */
public record SchemaMetadata(String subject, int id, int version, Schema schema) {
  public SchemaMetadata {
    Objects.requireNonNull(subject, "subject");
    Objects.requireNonNull(schema, "schema");
  }
}
