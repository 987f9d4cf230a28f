package dev.lorastream.ingest;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.avro.Schema;
import org.apache.avro.generic.IndexedRecord;

/**
 * Finds a null where an Avro record's schema does not allow one. Avro's generated builders and
 * setters accept null for any field, and the serializer only fails later, inside the producer, with
 * a {@code NullPointerException} wrapped in a {@code SerializationException} that names no field;
 * {@link LoraClient} checks a request with this first, so the caller learns which field it is.
 */
final class RequiredFields {
  private RequiredFields() {}

  /**
   * The path of the first null that {@code record}'s schema forbids, e.g. {@code sampling} or
   * {@code sampling.stopStrings[2]}; empty when there is none.
   */
  static Optional<String> firstNull(IndexedRecord record) {
    return firstNull(record, "");
  }

  private static Optional<String> firstNull(IndexedRecord record, String prefix) {
    for (Schema.Field f : record.getSchema().getFields()) {
      Optional<String> bad = check(record.get(f.pos()), f.schema(), prefix + f.name());
      if (bad.isPresent()) {
        return bad;
      }
    }
    return Optional.empty();
  }

  private static Optional<String> check(Object value, Schema schema, String path) {
    if (value == null) {
      return allowsNull(schema) ? Optional.empty() : Optional.of(path);
    }
    if (value instanceof IndexedRecord nested) {
      return firstNull(nested, path + ".");
    }
    Schema s = nonNull(schema);
    if (value instanceof List<?> list && s.getType() == Schema.Type.ARRAY) {
      for (int i = 0; i < list.size(); i++) {
        Optional<String> bad = check(list.get(i), s.getElementType(), path + "[" + i + "]");
        if (bad.isPresent()) {
          return bad;
        }
      }
    }
    if (value instanceof Map<?, ?> map && s.getType() == Schema.Type.MAP) {
      for (var e : map.entrySet()) {
        if (e.getKey() == null) {
          return Optional.of(path + " (a null key)");
        }
        Optional<String> bad = check(e.getValue(), s.getValueType(), path + "[" + e.getKey() + "]");
        if (bad.isPresent()) {
          return bad;
        }
      }
    }
    return Optional.empty();
  }

  private static boolean allowsNull(Schema s) {
    return s.getType() == Schema.Type.NULL
        || (s.getType() == Schema.Type.UNION
            && s.getTypes().stream().anyMatch(t -> t.getType() == Schema.Type.NULL));
  }

  /** The one non-null branch of a nullable union, else the schema itself. */
  private static Schema nonNull(Schema s) {
    if (s.getType() != Schema.Type.UNION) {
      return s;
    }
    List<Schema> branches =
        s.getTypes().stream().filter(t -> t.getType() != Schema.Type.NULL).toList();
    return branches.size() == 1 ? branches.get(0) : s;
  }
}
