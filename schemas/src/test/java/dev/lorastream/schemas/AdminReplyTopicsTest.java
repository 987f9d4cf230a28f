package dev.lorastream.schemas;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The part of {@link AdminReplyTopics} that needs no cluster; the batcher's {@code
 * ReplyTopicBrokerTest} asks a real one.
 */
class AdminReplyTopicsTest {

  @Test
  void legalTopicNames() {
    assertTrue(AdminReplyTopics.isLegalTopicName("lora.replies.acme-1_x"));
    assertTrue(AdminReplyTopics.isLegalTopicName("x".repeat(249)));
    for (String bad :
        List.of(
            "",
            ".",
            "..",
            "lora.replies.a b",
            "lora.replies.a/b",
            "lora.replies.ä",
            "x".repeat(250))) {
      assertFalse(AdminReplyTopics.isLegalTopicName(bad), bad);
    }
  }
}
