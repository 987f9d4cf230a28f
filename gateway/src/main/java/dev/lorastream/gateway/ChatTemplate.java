package dev.lorastream.gateway;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * How chat messages become one prompt: the model's own {@code chat_template} (the Jinja program in
 * its {@code tokenizer_config.json}) when it has one that renders here, else one stated format.
 *
 * <p>The model's template is rendered with Jinjava as Hugging Face's {@code apply_chat_template}
 * renders it with Python's jinja2 ({@code trim_blocks} and {@code lstrip_blocks} on, {@code
 * messages}, {@code add_generation_prompt=true}, {@code bos_token} and {@code eos_token} from the
 * same file, a {@code raise_exception(message)} function, whose message becomes a 400 to the
 * client, and {@code strftime_now(format)}). At start it is tried on one user message; a template
 * that does not render (Jinjava is not all of jinja2: Python string methods, for one) is not used
 * half-evaluated: the gateway says why and uses the stated format. Generation of a templated chat
 * also stops at the template's {@code eos_token} (e.g. {@code <|im_end|>}), which the model
 * config's end-of-sequence need not list.
 *
 * <p>The stated format, for a model without a usable template:
 *
 * <pre>
 * System: {system content}
 *
 * User: {user content}
 *
 * Assistant: {assistant content}
 *
 * User: {user content}
 *
 * Assistant:
 * </pre>
 *
 * <p>one block per message, in order, separated by a blank line, ending with {@code Assistant:} for
 * the answer; generation also stops at {@code "\n\nUser:"} so the model does not write the user's
 * next turn. Immutable; safe to share between threads.
 */
final class ChatTemplate {
  /** One chat message; {@code role} is system, user or assistant. */
  record Message(String role, String content) {}

  static final String USER_TURN_STOP = "\n\nUser:";

  /** Longest prompt a template may render (a runaway loop stops there). */
  private static final long MAX_OUTPUT = 4L << 20;

  /**
   * Jinjava's options for jinja2's behaviour where the two differ (operator precedence, whitespace
   * control, backslashes in strings, the trailing newline, ...), all but one: jinja2 does not
   * require whitespace inside {@code {{...}}}, and templates such as ChatML's write {@code
   * {{'<|im_start|>' + ...}}}.
   */
  private static final LegacyOverrides JINJA2 =
      LegacyOverrides.newBuilder()
          .withEvaluateMapKeys(true)
          .withIterateOverMapKeys(true)
          .withUsePyishObjectMapper(true)
          .withUseSnakeCasePropertyNaming(true)
          .withWhitespaceRequiredWithinTokens(false)
          .withUseNaturalOperatorPrecedence(true)
          .withParseWhitespaceControlStrictly(true)
          .withAllowAdjacentTextNodes(true)
          .withUseTrimmingForNotesAndExpressions(true)
          .withKeepNullableLoopValues(true)
          .withHandleBackslashInQuotesOnly(true)
          .withDefaultKeepTrailingNewlineBehavior(true)
          .build();

  private final String template; // null: the stated format
  private final String bosToken;
  private final String eosToken;
  private final String notUsed; // why the model's template is not used; null when it is or none
  private final Jinjava jinja;

  private ChatTemplate(String template, String bosToken, String eosToken, String notUsed) {
    this.template = template;
    this.bosToken = bosToken;
    this.eosToken = eosToken;
    this.notUsed = notUsed;
    this.jinja = template == null ? null : jinja();
  }

  /** A template refused by the template itself ({@code raise_exception}) or failing to render. */
  static final class RenderException extends RuntimeException {
    RenderException(String message) {
      super(message);
    }
  }

  /** The format for the model in {@code modelDir}, from its {@code tokenizer_config.json}. */
  static ChatTemplate forModel(Path modelDir) {
    Path config = modelDir.resolve("tokenizer_config.json");
    if (!Files.isRegularFile(config)) {
      return new ChatTemplate(null, "", "", null);
    }
    JsonNode c;
    try {
      c = new ObjectMapper().readTree(config.toFile());
    } catch (IOException e) {
      throw new IllegalArgumentException(
          "cannot read " + config + " (" + e.getMessage() + "): fix or remove the file", e);
    }
    return of(c.get("chat_template"), token(c.get("bos_token")), token(c.get("eos_token")));
  }

  /**
   * The format of a {@code chat_template} value (a string, or a list of named templates whose
   * {@code default} is used; null for none).
   */
  static ChatTemplate of(JsonNode chatTemplate, String bosToken, String eosToken) {
    String source = null;
    if (chatTemplate != null && chatTemplate.isTextual()) {
      source = chatTemplate.asText();
    } else if (chatTemplate != null && chatTemplate.isArray()) {
      for (JsonNode named : chatTemplate) {
        if ("default".equals(named.path("name").asText())) {
          source = named.path("template").asText(null);
        }
      }
      if (source == null) {
        return new ChatTemplate(null, "", "", "it has no template named 'default'");
      }
    }
    if (source == null) {
      return new ChatTemplate(null, "", "", null);
    }
    ChatTemplate t = new ChatTemplate(source, bosToken, eosToken, null);
    try {
      t.render(List.of(new Message("user", "Hello")));
    } catch (RenderException e) {
      return new ChatTemplate(null, "", "", e.getMessage());
    }
    return t;
  }

  private static String token(JsonNode t) {
    if (t == null || t.isNull()) {
      return "";
    }
    return t.isTextual() ? t.asText() : t.path("content").asText(""); // or an AddedToken
  }

  private static Jinjava jinja() {
    Jinjava j =
        new Jinjava(
            JinjavaConfig.newBuilder()
                .withTrimBlocks(true)
                .withLstripBlocks(true)
                .withMaxOutputSize(MAX_OUTPUT)
                .withLegacyOverrides(JINJA2)
                .build());
    j.registerFunction(
        new ELFunctionDefinition(
            "", "raise_exception", ChatTemplate.class, "raiseException", String.class));
    j.registerFunction(
        new ELFunctionDefinition(
            "", "strftime_now", ChatTemplate.class, "strftimeNow", String.class));
    return j;
  }

  /**
   * {@code strftime_now(format)} of Hugging Face's templates (Llama 3.2 writes today's date with
   * it): the local date and time in Python's strftime format, C locale.
   */
  public static String strftimeNow(String format) {
    return strftime(format, java.time.LocalDateTime.now());
  }

  static String strftime(String format, java.time.LocalDateTime t) {
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < format.length(); i++) {
      char c = format.charAt(i);
      if (c != '%' || i + 1 == format.length()) {
        b.append(c);
        continue;
      }
      char d = format.charAt(++i);
      String pattern =
          switch (d) {
            case 'd' -> "dd";
            case 'm' -> "MM";
            case 'Y' -> "yyyy";
            case 'y' -> "yy";
            case 'b' -> "MMM";
            case 'B' -> "MMMM";
            case 'a' -> "EEE";
            case 'A' -> "EEEE";
            case 'H' -> "HH";
            case 'I' -> "hh";
            case 'M' -> "mm";
            case 'S' -> "ss";
            case 'p' -> "a";
            case 'j' -> "DDD";
            default -> null;
          };
      if (pattern == null) {
        b.append(d == '%' ? "%" : "%" + d);
      } else {
        b.append(
            java.time.format.DateTimeFormatter.ofPattern(pattern, java.util.Locale.ROOT).format(t));
      }
    }
    return b.toString();
  }

  /** {@code raise_exception(message)} of Hugging Face's templates. */
  public static Object raiseException(String message) {
    throw new RenderException(message);
  }

  /** Whether the model's own template is used. */
  boolean usesModelTemplate() {
    return template != null;
  }

  /** Why the model's template is not used (the gateway says so at start); null when it is. */
  String notUsed() {
    return notUsed;
  }

  /** The template's {@code bos_token} ("" without a model template). */
  String bosToken() {
    return template == null ? "" : bosToken;
  }

  /** The template's {@code eos_token}, where a templated chat also stops ("" when none). */
  String eosToken() {
    return template == null ? "" : eosToken;
  }

  /**
   * The prompt for {@code messages}.
   *
   * @throws RenderException the template's own refusal ({@code raise_exception}) or its failure
   */
  String render(List<Message> messages) {
    if (template == null) {
      StringBuilder b = new StringBuilder();
      for (Message m : messages) {
        b.append(label(m.role())).append(": ").append(m.content()).append("\n\n");
      }
      return b.append("Assistant:").toString();
    }
    List<Map<String, Object>> list = new ArrayList<>();
    for (Message m : messages) {
      list.add(Map.of("role", m.role(), "content", m.content()));
    }
    Map<String, Object> context = new HashMap<>();
    context.put("messages", list);
    context.put("add_generation_prompt", true);
    context.put("bos_token", bosToken);
    context.put("eos_token", eosToken);
    RenderResult r = jinja.renderForResult(template, context);
    for (TemplateError e : r.getErrors()) {
      if (e.getSeverity() == TemplateError.ErrorType.FATAL) {
        throw new RenderException(refusal(e));
      }
    }
    return r.getOutput();
  }

  private static String refusal(TemplateError e) {
    for (Throwable t = e.getException(); t != null; t = t.getCause()) {
      if (t instanceof RenderException r) {
        return r.getMessage();
      }
    }
    return "the model's chat template fails on these messages (line "
        + e.getLineno()
        + ": "
        + e.getMessage()
        + ")";
  }

  /** Stop strings every chat request gets besides its own. */
  List<String> stopStrings() {
    return template == null ? List.of(USER_TURN_STOP) : List.of();
  }

  private static String label(String role) {
    return switch (role) {
      case "system" -> "System";
      case "assistant" -> "Assistant";
      default -> "User";
    };
  }
}
