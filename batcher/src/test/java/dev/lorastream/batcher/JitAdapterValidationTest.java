package dev.lorastream.batcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.schemas.ErrorCode;
import dev.lorastream.schemas.InferenceResult;
import dev.lorastream.schemas.Topics;
import java.util.List;
import org.apache.kafka.streams.TestOutputTopic;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Just-in-time adapter names ({@code TENANT/NAME}) through the whole topology: the request's own
 * tenant is admitted without a registration, another tenant's name is forbidden without saying
 * whether it exists, and a name that could leave the tenant's folder is invalid.
 */
class JitAdapterValidationTest {

  Harness h;
  TestOutputTopic<String, InferenceResult> replies;

  @BeforeEach
  void start() {
    h = new Harness(ValidationTopologyTest.CONFIG);
    replies = h.replies(Topics.REPLIES.name());
  }

  @AfterEach
  void stop() {
    h.close();
  }

  private InferenceResult onlyReply() {
    List<InferenceResult> out = replies.readValuesToList();
    assertEquals(1, out.size(), "one error reply");
    assertTrue(h.batches.isEmpty(), "a rejected request is not batched");
    return out.getFirst();
  }

  @Test
  void theTenantsOwnJitAdapterIsAcceptedWithoutRegistration() {
    h.send(Harness.request("own", "acme/sql-v2"));
    h.send(Harness.request("own2", "acme/poet")); // batch of 2 = max requests: flushed at once
    assertTrue(replies.isEmpty());
    assertEquals(List.of("acme/poet", "acme/sql-v2"), h.batches.readValue().getAdapterIds());
  }

  @Test
  void anotherTenantsJitAdapterIsForbidden() {
    h.send(Harness.request("r1", "globex/poet"));
    InferenceResult r = onlyReply();
    assertEquals(ErrorCode.ADAPTER_FORBIDDEN, r.getErrorCode());
    assertEquals(
        "adapter 'globex/poet' names another tenant's folder; tenant 'acme' may name only its own"
            + " just-in-time adapters ('acme/NAME')",
        r.getErrorMessage());
  }

  @Test
  void anIllegalTenantPartIsForbiddenNotDescribed() {
    h.send(Harness.request("r1", "../globex/poet"));
    assertEquals(ErrorCode.ADAPTER_FORBIDDEN, onlyReply().getErrorCode());
  }

  @Test
  void dotDotIsInvalid() {
    h.send(Harness.request("r1", "acme/.."));
    InferenceResult r = onlyReply();
    assertEquals(ErrorCode.INVALID_PARAMS, r.getErrorCode());
    assertEquals(
        "adapter 'acme/..': NAME '..' is not a legal adapter folder name: 1 to 128 characters of"
            + " A-Z a-z 0-9 . _ -, and not '.' or '..'",
        r.getErrorMessage());
  }

  @Test
  void aPathThroughAnotherTenantIsInvalid() {
    h.send(Harness.request("r1", "acme/../beta/x"));
    InferenceResult r = onlyReply();
    assertEquals(ErrorCode.INVALID_PARAMS, r.getErrorCode());
    assertEquals(
        "adapter 'acme/../beta/x' has more than one '/': a just-in-time adapter is named"
            + " TENANT/NAME, with NAME a single folder name",
        r.getErrorMessage());
  }
}
