package dev.lorastream.gateway;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * How chat messages become one prompt. Hugging Face models carry a {@code chat_template} in {@code
 * tokenizer_config.json}, but it is a Jinja program, which this gateway does not evaluate (no Jinja
 * engine is bundled, and a half-evaluated template would silently give the model a prompt it was
 * not trained on). Every model is therefore prompted in one stated format:
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
 * next turn. {@link #modelTemplateIgnored} tells whether the model had a template (the gateway says
 * so at start). Immutable.
 */
final class ChatTemplate {
  /** One chat message; {@code role} is system, user or assistant. */
  record Message(String role, String content) {}

  static final String USER_TURN_STOP = "\n\nUser:";

  private final boolean modelTemplateIgnored;

  private ChatTemplate(boolean modelTemplateIgnored) {
    this.modelTemplateIgnored = modelTemplateIgnored;
  }

  /** The format for the model in {@code modelDir}, looking at its {@code tokenizer_config.json}. */
  static ChatTemplate forModel(Path modelDir) {
    Path config = modelDir.resolve("tokenizer_config.json");
    if (!Files.isRegularFile(config)) {
      return new ChatTemplate(false);
    }
    try {
      JsonNode t = new ObjectMapper().readTree(config.toFile()).get("chat_template");
      return new ChatTemplate(t != null && !t.isNull());
    } catch (IOException e) {
      throw new IllegalArgumentException(
          "cannot read " + config + " (" + e.getMessage() + "): fix or remove the file", e);
    }
  }

  /** Whether the model's {@code tokenizer_config.json} has a {@code chat_template} not used. */
  boolean modelTemplateIgnored() {
    return modelTemplateIgnored;
  }

  /** The prompt for {@code messages}. */
  String render(List<Message> messages) {
    StringBuilder b = new StringBuilder();
    for (Message m : messages) {
      b.append(label(m.role())).append(": ").append(m.content()).append("\n\n");
    }
    return b.append("Assistant:").toString();
  }

  /** Stop strings every chat request gets besides its own. */
  List<String> stopStrings() {
    return List.of(USER_TURN_STOP);
  }

  private static String label(String role) {
    return switch (role) {
      case "system" -> "System";
      case "assistant" -> "Assistant";
      default -> "User";
    };
  }
}
