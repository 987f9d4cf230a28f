package dev.lorastream.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.TextNode;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class ChatTemplateTest {
  @TempDir Path tmp;

  /**
   * The conversations of chat-templates.json (written by src/test/python/chat_templates_ref.py).
   */
  private static final Map<String, List<ChatTemplate.Message>> CONVERSATIONS =
      Map.of(
          "user",
          List.of(new ChatTemplate.Message("user", "  Say hello.  ")),
          "full",
          List.of(
              new ChatTemplate.Message("system", "Be brief."),
              new ChatTemplate.Message("user", "Hi"),
              new ChatTemplate.Message("assistant", "Hello!"),
              new ChatTemplate.Message("user", "Name a colour.")),
          "alt",
          List.of(
              new ChatTemplate.Message("user", "Hi"),
              new ChatTemplate.Message("assistant", "Hello!"),
              new ChatTemplate.Message("user", "Name a colour.")));

  private static JsonNode reference() throws Exception {
    try (InputStream in = ChatTemplateTest.class.getResourceAsStream("/chat-templates.json")) {
      return new ObjectMapper().readTree(in);
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"chatml", "llama3", "mistral", "zephyr"})
  void aModelsTemplateRendersAsPythonsJinja2RendersIt(String name) throws Exception {
    JsonNode ref = reference();
    ChatTemplate t = ChatTemplate.of(ref.at("/templates/" + name), "<s>", "</s>");
    assertTrue(t.usesModelTemplate(), t.notUsed());
    for (var c : CONVERSATIONS.entrySet()) {
      JsonNode expected = ref.get("out").get(name + "/" + c.getKey());
      String what = name + " on " + c.getKey();
      if (expected.has("ok")) {
        assertEquals(expected.get("ok").asText(), t.render(c.getValue()), what);
      } else {
        ChatTemplate.RenderException e =
            assertThrows(ChatTemplate.RenderException.class, () -> t.render(c.getValue()), what);
        assertEquals(expected.get("error").asText(), e.getMessage(), what);
      }
    }
    assertEquals(List.of(), t.stopStrings());
    assertEquals("</s>", t.eosToken());
  }

  @Test
  void theTemplateAndItsTokensAreReadFromTokenizerConfig() throws Exception {
    String chatml = reference().at("/templates/chatml").asText();
    Files.writeString(
        tmp.resolve("tokenizer_config.json"),
        new ObjectMapper()
            .writeValueAsString(
                Map.of(
                    "chat_template",
                    chatml,
                    "bos_token",
                    Map.of("content", "<|endoftext|>", "special", true),
                    "eos_token",
                    "<|im_end|>")));
    ChatTemplate t = ChatTemplate.forModel(tmp);
    assertTrue(t.usesModelTemplate());
    assertEquals("<|endoftext|>", t.bosToken());
    assertEquals("<|im_end|>", t.eosToken());
  }

  @Test
  void aTemplateThatDoesNotRenderHereIsNotUsedAndSaysWhy() {
    // a function the environment does not have
    ChatTemplate t =
        ChatTemplate.of(
            new TextNode("{% for m in messages %}{{ render_tools(m) }}{% endfor %}"),
            "<s>",
            "</s>");
    assertFalse(t.usesModelTemplate());
    assertTrue(t.notUsed().contains("render_tools"), t.notUsed());
    assertEquals(
        "User: Hi\n\nAssistant:", t.render(List.of(new ChatTemplate.Message("user", "Hi"))));
  }

  @Test
  void pythonsStringMethodsTodaysDateAndATemplatesOwnRefusalWork() {
    ChatTemplate t =
        ChatTemplate.of(
            new TextNode(
                "{% if messages[0]['role'] == 'system' %}{{ raise_exception('no system"
                    + " messages') }}{% endif %}{% for m in messages %}[{{ m['content'].strip()"
                    + " }}]{% endfor %}{{ strftime_now('%Y') }}"),
            "<s>",
            "</s>");
    assertTrue(t.usesModelTemplate(), t.notUsed());
    assertEquals(
        "[Hi]" + java.time.Year.now().getValue(),
        t.render(List.of(new ChatTemplate.Message("user", "  Hi "))));
    ChatTemplate.RenderException e =
        assertThrows(ChatTemplate.RenderException.class, () -> t.render(CONVERSATIONS.get("full")));
    assertEquals("no system messages", e.getMessage());
    assertEquals(
        "06 Dec 2026 21:05 %",
        ChatTemplate.strftime("%d %b %Y %H:%M %%", java.time.LocalDateTime.of(2026, 12, 6, 21, 5)));
  }

  @Test
  void aModelWithoutTemplateUsesTheStatedFormatSilently() throws Exception {
    ChatTemplate none = ChatTemplate.forModel(tmp);
    assertFalse(none.usesModelTemplate());
    assertNull(none.notUsed());
    Files.writeString(tmp.resolve("tokenizer_config.json"), "{\"bos_token\":\"<s>\"}");
    ChatTemplate t = ChatTemplate.forModel(tmp);
    assertFalse(t.usesModelTemplate());
    assertNull(t.notUsed());
    assertEquals(
        "System: Be brief.\n\nUser: Hi\n\nAssistant: Hello!\n\nUser: Name a colour.\n\nAssistant:",
        t.render(CONVERSATIONS.get("full")));
    assertEquals(List.of(ChatTemplate.USER_TURN_STOP), t.stopStrings());
  }
}
