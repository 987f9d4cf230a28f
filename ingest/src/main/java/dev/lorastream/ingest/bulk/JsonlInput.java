package dev.lorastream.ingest.bulk;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lorastream.schemas.SamplingRules;
import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Reads the {@code bulk} input: one JSON object a line, {@code {"id": "...", "text": "..."}} with
 * optional {@code max_tokens} (integer >= 1) and {@code temperature} (number >= 0); other fields
 * are ignored, blank lines skipped. A bad line never stops the read: it becomes a {@link Malformed}
 * (no usable id) or an invalid {@link BulkDoc} (id known, rest wrong).
 *
 * @param docs documents with an id, in input order
 * @param malformed lines without a usable id, and repeated ids (the first line with an id wins)
 */
public record JsonlInput(List<BulkDoc> docs, List<Malformed> malformed) {

  private static final ObjectMapper JSON = new ObjectMapper();

  public static JsonlInput read(Path file) throws IOException {
    try (BufferedReader in = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
      return parse(in);
    }
  }

  public static JsonlInput parse(BufferedReader in) throws IOException {
    List<BulkDoc> docs = new ArrayList<>();
    List<Malformed> malformed = new ArrayList<>();
    Map<String, Integer> firstLine = new HashMap<>();
    String raw;
    int line = 0;
    while ((raw = in.readLine()) != null) {
      line++;
      if (raw.isBlank()) {
        continue;
      }
      Object parsed = parseLine(line, raw);
      if (parsed instanceof Malformed m) {
        malformed.add(m);
        continue;
      }
      BulkDoc doc = (BulkDoc) parsed;
      Integer first = firstLine.putIfAbsent(doc.id(), line);
      if (first != null) {
        malformed.add(
            new Malformed(line, "id \"" + doc.id() + "\" repeats line " + first + "; ignored"));
      } else {
        docs.add(doc);
      }
    }
    return new JsonlInput(List.copyOf(docs), List.copyOf(malformed));
  }

  /** A {@link BulkDoc} or a {@link Malformed}. */
  static Object parseLine(int line, String raw) {
    JsonNode node;
    try {
      node = JSON.readTree(raw);
    } catch (JacksonException e) {
      return new Malformed(line, "not JSON: " + e.getOriginalMessage());
    }
    if (node == null || !node.isObject()) {
      return new Malformed(line, "not a JSON object");
    }
    JsonNode id = node.get("id");
    if (id == null || !(id.isTextual() || id.isIntegralNumber()) || id.asText().isBlank()) {
      return new Malformed(line, "\"id\" missing or not a non-empty string");
    }
    String docId = id.asText();
    JsonNode text = node.get("text");
    if (text == null || !text.isTextual()) {
      return BulkDoc.invalid(line, docId, "line " + line + ": \"text\" missing or not a string");
    }
    Integer maxTokens = null;
    JsonNode mt = node.get("max_tokens");
    if (mt != null && !mt.isNull()) {
      if (!mt.canConvertToInt() || !mt.isIntegralNumber()) {
        return BulkDoc.invalid(
            line, docId, "line " + line + ": \"max_tokens\" must be an integer >= 1, got " + mt);
      }
      Optional<String> bad = SamplingRules.maxTokens(mt.intValue(), Integer.MAX_VALUE, null);
      if (bad.isPresent()) {
        return BulkDoc.invalid(line, docId, "line " + line + ": \"max_tokens\": " + bad.get());
      }
      maxTokens = mt.intValue();
    }
    Float temperature = null;
    JsonNode t = node.get("temperature");
    if (t != null && !t.isNull()) {
      if (!t.isNumber()) {
        return BulkDoc.invalid(
            line, docId, "line " + line + ": \"temperature\" must be a number >= 0, got " + t);
      }
      Optional<String> bad = SamplingRules.temperature(t.floatValue());
      if (bad.isPresent()) {
        return BulkDoc.invalid(line, docId, "line " + line + ": \"temperature\": " + bad.get());
      }
      temperature = t.floatValue();
    }
    return new BulkDoc(line, docId, text.textValue(), maxTokens, temperature, null);
  }
}
