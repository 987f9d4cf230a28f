package dev.lorastream.ingest.bulk;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.ingest.KafkaTestCluster;
import dev.lorastream.ingest.TestResponder;
import dev.lorastream.schemas.ErrorCode;
import dev.lorastream.schemas.InferenceRequest;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code lorastream bulk} end to end over the in-process broker, {@link TestResponder} playing the
 * servers.
 */
class BulkCommandKafkaTest {
  private static final AtomicInteger TOPICS = new AtomicInteger();
  @TempDir Path dir;

  private record Run(int exitCode, String stderr) {}

  private Run bulk(Path input, Path output, String replyTopic) throws Exception {
    StringWriter err = new StringWriter();
    CommandLine cmd = new CommandLine(new BulkCommand());
    cmd.setErr(new PrintWriter(err, true));
    Path model = Path.of(getClass().getResource("/model/tokenizer.json").toURI()).getParent();
    int code =
        cmd.execute(
            "--input",
            input.toString(),
            "--output",
            output.toString(),
            "--tenant",
            "t1",
            "--adapter",
            "a1",
            "--bootstrap-servers",
            KafkaTestCluster.bootstrap(),
            "--schema-registry-url",
            KafkaTestCluster.REGISTRY_URL,
            "--reply-topic",
            replyTopic,
            "--model",
            model.toString(),
            "--concurrency",
            "3",
            "--timeout",
            "2s");
    return new Run(code, err.toString());
  }

  private static String replyTopic() {
    String t = "replies-bulk-" + TOPICS.incrementAndGet();
    KafkaTestCluster.createTopic(t, 2);
    return t;
  }

  private static List<String> ids(Path output) throws Exception {
    return Files.readAllLines(output).stream().map(l -> ResultRow.fromJson(l).id()).toList();
  }

  private static List<String> prompts(TestResponder responder) {
    return responder.seen().stream().map(InferenceRequest::getPrompt).sorted().toList();
  }

  @Test
  void listsFailuresExitsNonZeroThenResumesOnlyWhatFailed() throws Exception {
    Path input = dir.resolve("docs.jsonl");
    Path output = dir.resolve("results.jsonl");
    List<String> lines = new ArrayList<>();
    for (int i = 0; i < 8; i++) {
      lines.add("{\"id\": \"doc-" + i + "\", \"text\": \"hello document " + i + "\"}");
    }
    lines.add(2, "{\"id\": \"fail-1\", \"text\": \"fail me\"}");
    lines.add(5, "{oops");
    lines.add("{\"id\": \"slow-1\", \"text\": \"slow one\", \"max_tokens\": 4}");
    Files.write(input, lines);
    String topic = replyTopic();

    Run first;
    try (TestResponder responder =
        new TestResponder(
            r ->
                switch (r.getPrompt()) {
                  case "fail me" ->
                      TestResponder.error(
                          r, ErrorCode.UNKNOWN_ADAPTER, "no adapter " + r.getAdapterId());
                  case "slow one" -> null; // never answered: the client times out
                  default -> TestResponder.ok(r, "summary of " + r.getPrompt());
                })) {
      first = bulk(input, output, topic);
      assertEquals(10, responder.seen().size(), "every valid line sent once");
      InferenceRequest sent =
          responder.seen().stream()
              .filter(r -> r.getPrompt().equals("hello document 0"))
              .findFirst()
              .orElseThrow();
      assertEquals(List.of(1, 4, 0), sent.getPromptTokenIds(), "tokenized with --model");
      assertEquals("t1", sent.getTenantId());
      assertEquals("a1", sent.getAdapterId());
    }
    assertEquals(1, first.exitCode(), first.stderr());
    assertTrue(
        first.stderr().contains("fail-1 (line 3): UNKNOWN_ADAPTER no adapter a1"), first.stderr());
    assertTrue(
        first.stderr().contains("slow-1 (line 11): DEADLINE_EXCEEDED client timeout"),
        first.stderr());
    assertTrue(first.stderr().contains("line 6: not JSON"), first.stderr());
    assertTrue(first.stderr().contains("10/10"), "progress shown: " + first.stderr());
    List<String> inputOrder =
        List.of(
            "doc-0", "doc-1", "fail-1", "doc-2", "doc-3", "doc-4", "doc-5", "doc-6", "doc-7",
            "slow-1");
    assertEquals(inputOrder, ids(output));
    ResultRow row0 = ResultRow.fromJson(Files.readAllLines(output).getFirst());
    assertEquals("summary of hello document 0", row0.text());
    assertEquals(3, row0.promptTokens());
    assertFalse(
        Files.exists(dir.resolve("results.jsonl.partial")), "journal folded into the output");

    lines.set(
        5, "{\"id\": \"late\", \"text\": \"fixed line\"}"); // the user fixes the malformed line
    Files.write(input, lines);
    Run second;
    try (TestResponder responder =
        new TestResponder(r -> TestResponder.ok(r, "now " + r.getPrompt()))) {
      second = bulk(input, output, topic);
      assertEquals(
          List.of("fail me", "fixed line", "slow one"), prompts(responder), "answered ids skipped");
    }
    assertEquals(0, second.exitCode(), second.stderr());
    assertTrue(
        second.stderr().contains("11 documents in " + input + "; 8 already answered"),
        second.stderr());
    List<String> newOrder = new ArrayList<>(inputOrder);
    newOrder.add(5, "late");
    assertEquals(newOrder, ids(output));
    List<ResultRow> rows = Files.readAllLines(output).stream().map(ResultRow::fromJson).toList();
    assertTrue(rows.stream().allMatch(ResultRow::ok), rows.toString());
    assertEquals("summary of hello document 0", rows.getFirst().text(), "kept from the first run");
    assertEquals("now fail me", rows.get(2).text(), "retried");
  }

  @Test
  void resumesFromTheJournalOfAnInterruptedRun() throws Exception {
    Path input = dir.resolve("docs.jsonl");
    Path output = dir.resolve("out.jsonl");
    List<String> lines = new ArrayList<>();
    for (int i = 0; i < 6; i++) {
      lines.add("{\"id\": \"d" + i + "\", \"text\": \"t" + i + "\"}");
    }
    Files.write(input, lines);
    try (ResultStore crashed =
        new ResultStore(output)) { // what a killed run leaves: a journal, no output
      crashed.append(new ResultRow("d4", "r4", "from the journal", "STOP", null, null, 1, 1));
      crashed.append(new ResultRow("d1", "r1", "from the journal", "LENGTH", null, null, 1, 1));
    }
    Run run;
    try (TestResponder responder = new TestResponder(r -> TestResponder.ok(r, "fresh"))) {
      run = bulk(input, output, replyTopic());
      assertEquals(List.of("t0", "t2", "t3", "t5"), prompts(responder));
    }
    assertEquals(0, run.exitCode(), run.stderr());
    assertEquals(List.of("d0", "d1", "d2", "d3", "d4", "d5"), ids(output));
    assertEquals("from the journal", ResultRow.fromJson(Files.readAllLines(output).get(4)).text());
  }

  @Test
  void unreachableReplyTopicExitsWithTwo() throws Exception {
    Path input = dir.resolve("docs.jsonl");
    Files.writeString(input, "{\"id\": \"a\", \"text\": \"x\"}\n");
    StringWriter err = new StringWriter();
    CommandLine cmd = new CommandLine(new BulkCommand());
    cmd.setErr(new PrintWriter(err, true));
    int code =
        cmd.execute(
            "--input",
            input.toString(),
            "--output",
            dir.resolve("o.jsonl").toString(),
            "--tenant",
            "t",
            "--bootstrap-servers",
            KafkaTestCluster.bootstrap(),
            "--schema-registry-url",
            KafkaTestCluster.REGISTRY_URL,
            "--reply-topic",
            "missing-topic");
    assertEquals(2, code, err.toString());
    assertTrue(err.toString().contains("missing-topic"), err.toString());
  }
}
