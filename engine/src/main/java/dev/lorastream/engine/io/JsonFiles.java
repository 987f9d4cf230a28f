package dev.lorastream.engine.io;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * Reads the small JSON files that sit next to weights ({@code config.json}, {@code
 * adapter_config.json}, safetensors headers and shard indexes) and pulls typed values out of them
 * with errors that name the file and the key.
 *
 * <p>The bytes must be well-formed UTF-8 (RFC 8259): a malformed, overlong or surrogate sequence is
 * an error naming its byte offset, never replaced or decoded leniently, so a key or module name
 * cannot mean one thing here and another to the tool that wrote it. A JSON {@code null} counts as
 * absent, as it does for Hugging Face configs. Thread-safe and stateless.
 */
public final class JsonFiles {

  /** Strict: duplicate keys and trailing garbage are errors, not silently resolved. */
  static final ObjectMapper MAPPER =
      JsonMapper.builder()
          .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
          .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
          .build();

  private JsonFiles() {}

  /**
   * Reads {@code file} as a JSON object.
   *
   * @param expectation what the file is and where it should be, used when it is missing
   * @throws ModelFormatException when the file is missing, unreadable, not JSON or not an object
   */
  public static JsonNode readObject(Path file, String expectation) {
    return readObject(file, expectation, FileConfinement.NONE);
  }

  /**
   * Reads {@code file}, opened through {@code files}, as a JSON object.
   *
   * @param expectation what the file is and where it should be, used when it is missing
   * @throws ModelFormatException when the file is missing, not a regular file, outside the roots of
   *     {@code files}, unreadable, not JSON or not an object
   */
  public static JsonNode readObject(Path file, String expectation, FileConfinement files) {
    byte[] bytes;
    try (FileChannel ch = files.open(file, expectation)) {
      bytes = Channels.newInputStream(ch).readAllBytes();
    } catch (IOException e) {
      throw new ModelFormatException("cannot read " + file + ": " + e.getMessage(), e);
    }
    return parseObject(bytes, file.toString());
  }

  /**
   * Parses {@code bytes} (strict UTF-8) as a JSON object; {@code source} names it in errors.
   *
   * @throws ModelFormatException when the bytes are not UTF-8, not JSON or not an object
   */
  public static JsonNode parseObject(byte[] bytes, String source) {
    String text = strictUtf8(bytes, source);
    JsonNode root;
    try {
      root = MAPPER.readTree(text);
    } catch (JsonProcessingException e) {
      throw new ModelFormatException(
          source + " is not valid JSON: " + e.getOriginalMessage() + " at " + location(e), e);
    } catch (IOException e) {
      throw new ModelFormatException("cannot parse " + source + ": " + e.getMessage(), e);
    }
    if (root == null || root.isMissingNode()) { // Jackson reads no content as a MissingNode
      throw new ModelFormatException(
          source + " is empty (or only whitespace); it must hold a JSON object");
    }
    if (!root.isObject()) {
      throw new ModelFormatException(
          source + " must hold a JSON object but holds " + root.getNodeType());
    }
    return root;
  }

  /**
   * Jackson's byte parser accepts overlong forms (C0 AF for '/') and encoded surrogates, and the
   * JDK decoder does not: decode with it first, reporting instead of replacing.
   */
  private static String strictUtf8(byte[] bytes, String source) {
    ByteBuffer in = ByteBuffer.wrap(bytes);
    try {
      CharBuffer chars =
          StandardCharsets.UTF_8
              .newDecoder()
              .onMalformedInput(CodingErrorAction.REPORT)
              .onUnmappableCharacter(CodingErrorAction.REPORT)
              .decode(in);
      String text = chars.toString();
      return text.startsWith("\uFEFF") ? text.substring(1) : text; // a BOM, as Jackson skipped it
    } catch (CharacterCodingException e) {
      int at = in.position(); // the decoder stops at the first bad sequence
      throw new ModelFormatException(
          source
              + " is not valid UTF-8: byte "
              + at
              + (at < bytes.length ? String.format(" (0x%02x)", bytes[at] & 0xff) : "")
              + " starts a malformed sequence; JSON files must be UTF-8",
          e);
    }
  }

  private static String location(JsonProcessingException e) {
    var loc = e.getLocation();
    return loc == null
        ? "unknown position"
        : "line " + loc.getLineNr() + " column " + loc.getColumnNr();
  }

  /** {@code obj[key]}, or {@code null} when absent or JSON null. */
  public static JsonNode opt(JsonNode obj, String key) {
    JsonNode v = obj.get(key);
    return v == null || v.isNull() ? null : v;
  }

  /** A required integer (an integral JSON number that fits an int). */
  public static int requireInt(JsonNode obj, String key, Path file) {
    JsonNode v = opt(obj, key);
    if (v == null) {
      throw new ModelFormatException(file + ": required key '" + key + "' is missing");
    }
    return asInt(v, key, file);
  }

  public static int optInt(JsonNode obj, String key, int dflt, Path file) {
    JsonNode v = opt(obj, key);
    return v == null ? dflt : asInt(v, key, file);
  }

  public static int asInt(JsonNode v, String key, Path file) {
    if (!v.isIntegralNumber() || !v.canConvertToInt()) {
      throw new ModelFormatException(file + ": '" + key + "' must be an int but is " + v);
    }
    return v.intValue();
  }

  public static double optDouble(JsonNode obj, String key, double dflt, Path file) {
    JsonNode v = opt(obj, key);
    if (v == null) {
      return dflt;
    }
    if (!v.isNumber()) {
      throw new ModelFormatException(file + ": '" + key + "' must be a number but is " + v);
    }
    return v.doubleValue();
  }

  public static boolean optBool(JsonNode obj, String key, boolean dflt, Path file) {
    JsonNode v = opt(obj, key);
    if (v == null) {
      return dflt;
    }
    if (!v.isBoolean()) {
      throw new ModelFormatException(file + ": '" + key + "' must be true or false but is " + v);
    }
    return v.booleanValue();
  }

  public static String optString(JsonNode obj, String key, String dflt, Path file) {
    JsonNode v = opt(obj, key);
    if (v == null) {
      return dflt;
    }
    if (!v.isTextual()) {
      throw new ModelFormatException(file + ": '" + key + "' must be a string but is " + v);
    }
    return v.textValue();
  }
}
