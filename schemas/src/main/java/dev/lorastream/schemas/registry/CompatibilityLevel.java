package dev.lorastream.schemas.registry;

import java.util.ArrayList;
import java.util.List;
import org.apache.avro.Schema;
import org.apache.avro.SchemaCompatibility;
import org.apache.avro.SchemaCompatibility.Incompatibility;
import org.apache.avro.SchemaCompatibility.SchemaCompatibilityType;

/**
 * Confluent's compatibility levels. BACKWARD: a reader with the new schema reads data written with
 * the previous one (add fields with defaults, remove fields). FORWARD: readers with the previous
 * schema read data written with the new one. FULL: both. The {@code _TRANSITIVE} variants check
 * every earlier version, not only the latest. NONE: no check.
 */
public enum CompatibilityLevel {
  NONE,
  BACKWARD,
  BACKWARD_TRANSITIVE,
  FORWARD,
  FORWARD_TRANSITIVE,
  FULL,
  FULL_TRANSITIVE;

  /**
   * Checks a candidate against the earlier versions of a subject with Avro's own resolution rules
   * ({@link SchemaCompatibility}).
   *
   * @param earlier the subject's versions, oldest first (may be empty)
   * @param candidate the schema to register
   * @return what is incompatible, one line each; empty when compatible
   */
  public List<String> check(List<Schema> earlier, Schema candidate) {
    if (this == NONE || earlier.isEmpty()) {
      return List.of();
    }
    boolean transitive = name().endsWith("_TRANSITIVE");
    boolean backward = this != FORWARD && this != FORWARD_TRANSITIVE;
    boolean forward = this != BACKWARD && this != BACKWARD_TRANSITIVE;
    List<Schema> against = transitive ? earlier : List.of(earlier.getLast());
    List<String> problems = new ArrayList<>();
    for (Schema old : against) {
      if (backward) {
        describe(
            SchemaCompatibility.checkReaderWriterCompatibility(candidate, old),
            "new schema reading old data",
            problems);
      }
      if (forward) {
        describe(
            SchemaCompatibility.checkReaderWriterCompatibility(old, candidate),
            "old schema reading new data",
            problems);
      }
    }
    return problems;
  }

  private static void describe(
      SchemaCompatibility.SchemaPairCompatibility pair, String direction, List<String> out) {
    if (pair.getType() == SchemaCompatibilityType.COMPATIBLE) {
      return;
    }
    for (Incompatibility inc : pair.getResult().getIncompatibilities()) {
      out.add(
          direction + ": " + inc.getType() + " at " + inc.getLocation() + ": " + inc.getMessage());
    }
  }
}
