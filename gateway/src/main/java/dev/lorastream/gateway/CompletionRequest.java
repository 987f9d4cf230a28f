package dev.lorastream.gateway;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.lorastream.schemas.SamplingParams;
import java.util.ArrayList;
import java.util.List;

/**
 * One OpenAI completion or chat completion request, read from its JSON body and checked: what the
 * gateway sends to the pipeline. Unknown fields are ignored, as OpenAI does. Options that would
 * change the result and that the pipeline cannot honour ({@code n > 1}, penalties, logprobs, tools,
 * ...) are refused with a 400 naming them rather than silently ignored.
 *
 * @param model the {@code model} field as sent: {@code base}, an adapter id or {@code TENANT/NAME}
 * @param promptText the prompt text (completions' {@code prompt}, or the chat messages rendered by
 *     the {@link ChatTemplate}); null when the prompt was given as token ids
 * @param promptTokenIds the prompt as token ids (completions only); null when given as text
 * @param sampling temperature, top_p, top_k, seed, max tokens and stop strings
 * @param stream {@code stream: true}: answer with server-sent events
 * @param includeUsage {@code stream_options.include_usage}: a last chunk carries the usage
 */
record CompletionRequest(
    String model,
    String promptText,
    List<Integer> promptTokenIds,
    SamplingParams sampling,
    boolean stream,
    boolean includeUsage) {

  /** At most this many stop sequences, as OpenAI. */
  static final int MAX_STOP = 4;

  /** The request body as a JSON object; 400 when it is not one. */
  static ObjectNode parseBody(ObjectMapper json, byte[] body) {
    JsonNode node;
    try {
      node = json.readTree(body);
    } catch (JacksonException e) {
      throw new ApiError(
          400,
          ApiError.INVALID_REQUEST,
          null,
          "invalid_json",
          "the request body is not valid JSON ("
              + e.getOriginalMessage()
              + "): send one JSON object with Content-Type: application/json");
    } catch (java.io.IOException e) {
      throw new ApiError(
          400, ApiError.INVALID_REQUEST, null, "invalid_json", "cannot read the body: " + e);
    }
    if (node == null || !node.isObject()) {
      throw new ApiError(
          400,
          ApiError.INVALID_REQUEST,
          null,
          "invalid_json",
          "the request body must be a JSON object, got "
              + (node == null ? "nothing" : node.getNodeType().toString().toLowerCase()));
    }
    return (ObjectNode) node;
  }

  /** {@code POST /v1/completions}. */
  static CompletionRequest completion(ObjectNode body, int defaultMaxTokens) {
    refuseUnsupported(body, false);
    String model = model(body);
    JsonNode prompt = body.get("prompt");
    String text = null;
    List<Integer> ids = null;
    if (prompt == null || prompt.isNull()) {
      throw ApiError.badParam("prompt", "'prompt' is required: a string, or an array of token ids");
    } else if (prompt.isTextual()) {
      text = prompt.asText();
    } else if (prompt.isArray() && prompt.size() == 1 && prompt.get(0).isTextual()) {
      text = prompt.get(0).asText();
    } else if (prompt.isArray() && !prompt.isEmpty() && allInts(prompt)) {
      ids = new ArrayList<>();
      for (JsonNode n : prompt) {
        ids.add(n.intValue());
      }
    } else if (prompt.isArray() && prompt.size() > 1) {
      throw ApiError.unsupported(
          "prompt", "one prompt per request: an array of several prompts is a batch; send each");
    } else {
      throw ApiError.badParam(
          "prompt", "'prompt' must be a string or a non-empty array of token ids (integers)");
    }
    if (text != null && text.isEmpty()) {
      throw ApiError.badParam("prompt", "'prompt' is empty: give at least one character");
    }
    return new CompletionRequest(
        model,
        text,
        ids,
        sampling(body, "max_tokens", defaultMaxTokens, List.of()),
        stream(body),
        includeUsage(body));
  }

  /** {@code POST /v1/chat/completions}: the messages rendered by {@code template}. */
  static CompletionRequest chat(ObjectNode body, int defaultMaxTokens, ChatTemplate template) {
    refuseUnsupported(body, true);
    String model = model(body);
    JsonNode messages = body.get("messages");
    if (messages == null || !messages.isArray() || messages.isEmpty()) {
      throw ApiError.badParam(
          "messages",
          "'messages' is required: a non-empty array of {\"role\": ..., \"content\": ...}");
    }
    List<ChatTemplate.Message> list = new ArrayList<>();
    for (int i = 0; i < messages.size(); i++) {
      list.add(message(messages.get(i), "messages[" + i + "]"));
    }
    String maxKey =
        body.hasNonNull("max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
    return new CompletionRequest(
        model,
        rendered(template, list),
        null,
        sampling(body, maxKey, defaultMaxTokens, template.stopStrings()),
        stream(body),
        includeUsage(body));
  }

  private static ChatTemplate.Message message(JsonNode m, String where) {
    if (!m.isObject()) {
      throw ApiError.badParam(where, where + " must be an object with 'role' and 'content'");
    }
    JsonNode role = m.get("role");
    if (role == null || !role.isTextual()) {
      throw ApiError.badParam(where + ".role", where + ".role is required (a string)");
    }
    String r =
        switch (role.asText()) {
          case "system", "developer" -> "system";
          case "user" -> "user";
          case "assistant" -> "assistant";
          default ->
              throw ApiError.unsupported(
                  where + ".role",
                  "role '" + role.asText() + "': only system, developer, user and assistant");
        };
    JsonNode content = m.get("content");
    String text;
    if (content == null || content.isNull()) {
      text = "";
    } else if (content.isTextual()) {
      text = content.asText();
    } else if (content.isArray()) {
      StringBuilder b = new StringBuilder();
      for (int i = 0; i < content.size(); i++) {
        JsonNode part = content.get(i);
        String p = where + ".content[" + i + "]";
        if (!part.isObject() || !"text".equals(part.path("type").asText())) {
          throw ApiError.unsupported(p, "only content parts of type 'text'");
        }
        if (!part.path("text").isTextual()) {
          throw ApiError.badParam(p + ".text", p + ".text must be a string");
        }
        b.append(part.get("text").asText());
      }
      text = b.toString();
    } else {
      throw ApiError.badParam(
          where + ".content", where + ".content must be a string or an array of text parts");
    }
    return new ChatTemplate.Message(r, text);
  }

  /** The prompt of the messages; 400 with the template's message when it refuses them. */
  private static String rendered(ChatTemplate template, List<ChatTemplate.Message> messages) {
    try {
      return template.render(messages);
    } catch (ChatTemplate.RenderException e) {
      throw new ApiError(
          400,
          ApiError.INVALID_REQUEST,
          "messages",
          "invalid_messages",
          "the model's chat template refuses these messages: " + e.getMessage());
    }
  }

  private static String model(ObjectNode body) {
    JsonNode m = body.get("model");
    if (m == null || !m.isTextual() || m.asText().isBlank()) {
      throw ApiError.badParam(
          "model",
          "'model' is required: 'base', one of your adapters, or TENANT/NAME (GET /v1/models"
              + " lists them)");
    }
    return m.asText();
  }

  private static SamplingParams sampling(
      ObjectNode body, String maxKey, int defaultMaxTokens, List<String> extraStops) {
    SamplingParams.Builder s = SamplingParams.newBuilder();
    s.setMaxTokens(defaultMaxTokens);
    JsonNode max = body.get(maxKey);
    if (max != null && !max.isNull()) {
      if (!max.canConvertToInt() || !max.isIntegralNumber() || max.intValue() < 1) {
        throw ApiError.badParam(maxKey, "'" + maxKey + "' must be an integer >= 1, got " + max);
      }
      s.setMaxTokens(max.intValue());
    }
    JsonNode t = body.get("temperature");
    if (t != null && !t.isNull()) {
      if (!t.isNumber() || !(t.doubleValue() >= 0 && t.doubleValue() <= 2)) {
        throw ApiError.badParam(
            "temperature", "'temperature' must be a number in [0, 2] (0 = greedy), got " + t);
      }
      s.setTemperature(t.floatValue());
    } else {
      s.setTemperature(1.0f); // OpenAI's default; the pipeline's own default is greedy
    }
    JsonNode p = body.get("top_p");
    if (p != null && !p.isNull()) {
      if (!p.isNumber() || !(p.doubleValue() > 0 && p.doubleValue() <= 1)) {
        throw ApiError.badParam("top_p", "'top_p' must be a number in (0, 1], got " + p);
      }
      s.setTopP(p.floatValue());
    }
    JsonNode k = body.get("top_k"); // not OpenAI's, but common (vLLM) and the pipeline has it
    if (k != null && !k.isNull()) {
      if (!k.isIntegralNumber() || !k.canConvertToInt() || k.intValue() < 0) {
        throw ApiError.badParam("top_k", "'top_k' must be an integer >= 0 (0 = no cut), got " + k);
      }
      s.setTopK(k.intValue());
    }
    JsonNode ignoreEos = body.get("ignore_eos"); // vLLM's: fixed output lengths for benchmarks
    if (ignoreEos != null && !ignoreEos.isNull()) {
      if (!ignoreEos.isBoolean()) {
        throw ApiError.badParam(
            "ignore_eos", "'ignore_eos' must be true or false, got " + ignoreEos);
      }
      s.setIgnoreEos(ignoreEos.booleanValue());
    }
    JsonNode seed = body.get("seed");
    if (seed != null && !seed.isNull()) {
      if (!seed.isIntegralNumber() || !seed.canConvertToLong()) {
        throw ApiError.badParam("seed", "'seed' must be an integer, got " + seed);
      }
      s.setSeed(seed.longValue());
    } else {
      // OpenAI samples differently each time when no seed is given; the pipeline's default seed
      // (0) would give every unseeded request the same tokens
      s.setSeed(java.util.concurrent.ThreadLocalRandom.current().nextLong());
    }
    List<String> stops = new ArrayList<>(stops(body.get("stop")));
    stops.addAll(extraStops);
    s.setStopStrings(stops);
    return s.build();
  }

  private static List<String> stops(JsonNode stop) {
    if (stop == null || stop.isNull()) {
      return List.of();
    }
    List<String> out = new ArrayList<>();
    if (stop.isTextual()) {
      out.add(stop.asText());
    } else if (stop.isArray() && stop.size() <= MAX_STOP) {
      for (JsonNode s : stop) {
        if (!s.isTextual()) {
          throw ApiError.badParam("stop", "'stop' must be a string or an array of strings");
        }
        out.add(s.asText());
      }
    } else {
      throw ApiError.badParam(
          "stop", "'stop' must be a string or an array of at most " + MAX_STOP + " strings");
    }
    if (out.stream().anyMatch(String::isEmpty)) {
      throw ApiError.badParam("stop", "'stop' has an empty string: it would match before any text");
    }
    return out;
  }

  private static boolean stream(ObjectNode body) {
    JsonNode s = body.get("stream");
    if (s == null || s.isNull()) {
      return false;
    }
    if (!s.isBoolean()) {
      throw ApiError.badParam("stream", "'stream' must be true or false, got " + s);
    }
    return s.booleanValue();
  }

  private static boolean includeUsage(ObjectNode body) {
    JsonNode o = body.get("stream_options");
    if (o == null || o.isNull()) {
      return false;
    }
    if (!o.isObject()) {
      throw ApiError.badParam("stream_options", "'stream_options' must be an object");
    }
    JsonNode u = o.get("include_usage");
    if (u != null && !u.isNull() && !u.isBoolean()) {
      throw ApiError.badParam(
          "stream_options.include_usage", "'stream_options.include_usage' must be true or false");
    }
    return u != null && u.asBoolean(false);
  }

  /**
   * Refuses, naming it, each OpenAI option that is set to something other than its neutral value
   * and would change the result if honoured.
   */
  private static void refuseUnsupported(ObjectNode body, boolean chat) {
    JsonNode n = body.get("n");
    if (n != null && !n.isNull() && !(n.isIntegralNumber() && n.intValue() == 1)) {
      throw ApiError.unsupported("n", "one choice per request; send n requests instead");
    }
    JsonNode bestOf = body.get("best_of");
    if (bestOf != null
        && !bestOf.isNull()
        && !(bestOf.isIntegralNumber() && bestOf.intValue() == 1)) {
      throw ApiError.unsupported("best_of", "one candidate per request");
    }
    for (String penalty : List.of("presence_penalty", "frequency_penalty")) {
      JsonNode v = body.get(penalty);
      if (v != null && !v.isNull() && !(v.isNumber() && v.doubleValue() == 0)) {
        throw ApiError.unsupported(penalty, "the pipeline has no penalties; leave it at 0");
      }
    }
    JsonNode logprobs = body.get("logprobs");
    if (logprobs != null
        && !logprobs.isNull()
        && !(logprobs.isBoolean() && !logprobs.booleanValue())
        && !(!chat && logprobs.isIntegralNumber() && logprobs.intValue() == 0)) {
      throw ApiError.unsupported("logprobs", "results carry no log-probabilities");
    }
    refuseIfSet(body, "top_logprobs", "results carry no log-probabilities");
    JsonNode echo = body.get("echo");
    if (echo != null && !echo.isNull() && !(echo.isBoolean() && !echo.booleanValue())) {
      throw ApiError.unsupported("echo", "the prompt is not echoed");
    }
    JsonNode suffix = body.get("suffix");
    if (suffix != null && !suffix.isNull() && !(suffix.isTextual() && suffix.asText().isEmpty())) {
      throw ApiError.unsupported("suffix", "no insertion after a suffix");
    }
    JsonNode bias = body.get("logit_bias");
    if (bias != null && !bias.isNull() && !(bias.isObject() && bias.isEmpty())) {
      throw ApiError.unsupported("logit_bias", "no logit bias");
    }
    for (String tools : List.of("tools", "functions")) {
      JsonNode v = body.get(tools);
      if (v != null && !v.isNull() && !(v.isArray() && v.isEmpty())) {
        throw ApiError.unsupported(tools, "no tool or function calling");
      }
    }
    for (String choice : List.of("tool_choice", "function_call")) {
      JsonNode v = body.get(choice);
      if (v != null && !v.isNull() && !(v.isTextual() && v.asText().equals("none"))) {
        throw ApiError.unsupported(choice, "no tool or function calling");
      }
    }
    JsonNode format = body.get("response_format");
    if (format != null
        && !format.isNull()
        && !(format.isObject() && "text".equals(format.path("type").asText()))) {
      throw ApiError.unsupported("response_format", "only {\"type\": \"text\"}");
    }
  }

  private static void refuseIfSet(ObjectNode body, String name, String why) {
    JsonNode v = body.get(name);
    if (v != null && !v.isNull()) {
      throw ApiError.unsupported(name, why);
    }
  }

  private static boolean allInts(JsonNode array) {
    for (JsonNode n : array) {
      if (!n.isIntegralNumber() || !n.canConvertToInt()) {
        return false;
      }
    }
    return true;
  }
}
