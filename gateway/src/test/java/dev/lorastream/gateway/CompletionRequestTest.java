package dev.lorastream.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class CompletionRequestTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final ChatTemplate TEMPLATE = ChatTemplate.forModel(Path.of("no-such-model"));

  private static ObjectNode body(String json) {
    return CompletionRequest.parseBody(JSON, json.getBytes(StandardCharsets.UTF_8));
  }

  private static CompletionRequest completion(String json) {
    return CompletionRequest.completion(body(json), 16);
  }

  private static ApiError refused(String json) {
    return assertThrows(ApiError.class, () -> completion(json));
  }

  @Test
  void theOpenAiSamplingFieldsBecomeTheRequestsSamplingParams() {
    CompletionRequest r =
        completion(
            "{\"model\":\"legal\",\"prompt\":\"Hi\",\"max_tokens\":7,\"temperature\":0.5,"
                + "\"top_p\":0.9,\"top_k\":40,\"ignore_eos\":true,\"seed\":42,\"stop\":[\"a\",\"b\"],\"stream\":true,"
                + "\"stream_options\":{\"include_usage\":true},\"unknown\":[1,2]}");
    assertEquals("legal", r.model());
    assertEquals("Hi", r.promptText());
    assertNull(r.promptTokenIds());
    assertEquals(7, r.sampling().getMaxTokens());
    assertEquals(0.5f, r.sampling().getTemperature());
    assertEquals(0.9f, r.sampling().getTopP());
    assertEquals(40, r.sampling().getTopK());
    assertTrue(r.sampling().getIgnoreEos());
    assertEquals(42L, r.sampling().getSeed());
    assertEquals(List.of("a", "b"), r.sampling().getStopStrings());
    assertTrue(r.stream());
    assertTrue(r.includeUsage());
  }

  @Test
  void defaultsAreOpenAisTemperatureOneAndTheGatewaysMaxTokens() {
    CompletionRequest r = completion("{\"model\":\"base\",\"prompt\":\"Hi\"}");
    assertEquals(16, r.sampling().getMaxTokens());
    assertEquals(1.0f, r.sampling().getTemperature());
    assertEquals(1.0f, r.sampling().getTopP());
    assertFalse(r.sampling().getIgnoreEos());
    assertFalse(r.stream());
    assertEquals(List.of(), r.sampling().getStopStrings());
  }

  @Test
  void aPromptOfTokenIdsIsSentAsIds() {
    CompletionRequest r = completion("{\"model\":\"base\",\"prompt\":[1,40,50]}");
    assertNull(r.promptText());
    assertEquals(List.of(1, 40, 50), r.promptTokenIds());
  }

  @ParameterizedTest
  @CsvSource(
      delimiter = '|',
      value = {
        "{\"model\":\"base\",\"prompt\":\"x\",\"n\":3}|n",
        "{\"model\":\"base\",\"prompt\":\"x\",\"best_of\":2}|best_of",
        "{\"model\":\"base\",\"prompt\":\"x\",\"logprobs\":5}|logprobs",
        "{\"model\":\"base\",\"prompt\":\"x\",\"echo\":true}|echo",
        "{\"model\":\"base\",\"prompt\":\"x\",\"suffix\":\"end\"}|suffix",
        "{\"model\":\"base\",\"prompt\":\"x\",\"frequency_penalty\":1}|frequency_penalty",
        "{\"model\":\"base\",\"prompt\":\"x\",\"logit_bias\":{\"5\":1}}|logit_bias",
        "{\"model\":\"base\",\"prompt\":[\"a\",\"b\"]}|prompt",
      })
  void anOptionThatWouldChangeTheResultIsRefusedByName(String json, String param) {
    ApiError e = refused(json);
    assertEquals(400, e.status);
    assertEquals(param, e.param);
    assertEquals("unsupported_parameter", e.code);
    assertTrue(e.getMessage().startsWith("'" + param + "' is not supported"), e.getMessage());
  }

  @ParameterizedTest
  @CsvSource(
      delimiter = '|',
      value = {
        "{\"model\":\"base\",\"prompt\":\"x\",\"n\":1,\"presence_penalty\":0,\"logprobs\":null,"
            + "\"echo\":false,\"best_of\":1,\"logit_bias\":{}}",
        "{\"model\":\"base\",\"prompt\":\"x\",\"n\":null,\"suffix\":\"\",\"tools\":[]}",
      })
  void neutralValuesOfUnsupportedOptionsAreAccepted(String json) {
    assertEquals("x", completion(json).promptText());
  }

  @ParameterizedTest
  @CsvSource(
      delimiter = '|',
      value = {
        "{\"prompt\":\"x\"}|model",
        "{\"model\":\"\",\"prompt\":\"x\"}|model",
        "{\"model\":\"base\"}|prompt",
        "{\"model\":\"base\",\"prompt\":\"\"}|prompt",
        "{\"model\":\"base\",\"prompt\":\"x\",\"max_tokens\":0}|max_tokens",
        "{\"model\":\"base\",\"prompt\":\"x\",\"max_tokens\":1.5}|max_tokens",
        "{\"model\":\"base\",\"prompt\":\"x\",\"temperature\":2.5}|temperature",
        "{\"model\":\"base\",\"prompt\":\"x\",\"temperature\":\"hot\"}|temperature",
        "{\"model\":\"base\",\"prompt\":\"x\",\"top_p\":0}|top_p",
        "{\"model\":\"base\",\"prompt\":\"x\",\"stop\":[\"\"]}|stop",
        "{\"model\":\"base\",\"prompt\":\"x\",\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}|stop",
        "{\"model\":\"base\",\"prompt\":\"x\",\"stream\":\"yes\"}|stream",
        "{\"model\":\"base\",\"prompt\":\"x\",\"seed\":\"s\"}|seed",
        "{\"model\":\"base\",\"prompt\":\"x\",\"ignore_eos\":1}|ignore_eos",
      })
  void aBadValueIs400NamingTheParameter(String json, String param) {
    ApiError e = refused(json);
    assertEquals(400, e.status);
    assertEquals(param, e.param);
    assertEquals("invalid_value", e.code);
  }

  @Test
  void aBodyThatIsNotAJsonObjectIs400() {
    for (String bad : List.of("{\"model\":", "[]", "42", "", "null")) {
      ApiError e = assertThrows(ApiError.class, () -> body(bad), bad);
      assertEquals(400, e.status, bad);
      assertEquals("invalid_json", e.code, bad);
    }
  }

  @Test
  void chatMessagesAreRenderedInTheStatedFormatAndStopAtTheUsersTurn() {
    CompletionRequest r =
        CompletionRequest.chat(
            body(
                "{\"model\":\"base\",\"max_completion_tokens\":5,\"max_tokens\":9,\"stop\":\"x\","
                    + "\"messages\":[{\"role\":\"developer\",\"content\":\"Be short.\"},"
                    + "{\"role\":\"user\",\"content\":\"Hi\"},"
                    + "{\"role\":\"assistant\",\"content\":\"Hello\"},"
                    + "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"How \"},"
                    + "{\"type\":\"text\",\"text\":\"are you?\"}]}]}"),
            16,
            TEMPLATE);
    assertEquals(
        "System: Be short.\n\nUser: Hi\n\nAssistant: Hello\n\nUser: How are you?\n\nAssistant:",
        r.promptText());
    assertEquals(5, r.sampling().getMaxTokens(), "max_completion_tokens wins");
    assertEquals(List.of("x", "\n\nUser:"), r.sampling().getStopStrings());
  }

  @Test
  void aToolMessageOrAnImagePartIsRefusedByName() {
    ApiError tool =
        assertThrows(
            ApiError.class,
            () ->
                CompletionRequest.chat(
                    body(
                        "{\"model\":\"base\",\"messages\":[{\"role\":\"tool\",\"content\":\"x\"}]}"),
                    16,
                    TEMPLATE));
    assertEquals("messages[0].role", tool.param);
    ApiError image =
        assertThrows(
            ApiError.class,
            () ->
                CompletionRequest.chat(
                    body(
                        "{\"model\":\"base\",\"messages\":[{\"role\":\"user\",\"content\":"
                            + "[{\"type\":\"image_url\",\"image_url\":{\"url\":\"x\"}}]}]}"),
                    16,
                    TEMPLATE));
    assertEquals("messages[0].content[0]", image.param);
    assertEquals(400, image.status);
  }
}
