package dev.lorastream.gateway;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ChatTemplateTest {
  @TempDir Path tmp;

  @Test
  void aModelsJinjaChatTemplateIsNotedAsNotEvaluated() throws Exception {
    Files.writeString(
        tmp.resolve("tokenizer_config.json"),
        "{\"chat_template\":\"{% for m in messages %}{{ m.content }}{% endfor %}\"}");
    assertTrue(ChatTemplate.forModel(tmp).modelTemplateIgnored());
  }

  @Test
  void aModelWithoutTemplateUsesTheStatedFormatSilently() throws Exception {
    assertFalse(ChatTemplate.forModel(tmp).modelTemplateIgnored());
    Files.writeString(tmp.resolve("tokenizer_config.json"), "{\"bos_token\":\"<s>\"}");
    assertFalse(ChatTemplate.forModel(tmp).modelTemplateIgnored());
  }
}
