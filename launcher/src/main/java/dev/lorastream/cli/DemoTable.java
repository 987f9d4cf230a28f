package dev.lorastream.cli;

import dev.lorastream.schemas.InferenceResult;
import java.io.PrintStream;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/** Prints the demo's replies as a table and the summary line; counts unexpected errors. */
final class DemoTable {
  private DemoTable() {}

  static int print(
      PrintStream out,
      List<DemoFixtures.Job> jobs,
      List<CompletableFuture<InferenceResult>> futures,
      double secs) {
    out.printf("%-8s %-13s %-14s %7s  %s%n", "tenant", "adapter", "prompt", "ms", "completion");
    int unexpected = 0;
    int replies = 0;
    long tokens = 0;
    long[] latency = new long[jobs.size()];
    for (int i = 0; i < jobs.size(); i++) {
      DemoFixtures.Job j = jobs.get(i);
      InferenceResult r = futures.get(i).exceptionally(t -> null).join();
      String shown;
      if (r == null) {
        shown = "NO REPLY: " + futures.get(i).handle((v, t) -> t.toString()).join();
        unexpected++;
      } else {
        replies++;
        latency[i] = r.getTimings().getTotalMs();
        tokens += r.getTokenIds().size();
        String code = r.getErrorCode() == null ? null : r.getErrorCode().name();
        boolean expected =
            code == null ? j.expectedError() == null : code.equals(j.expectedError());
        if (!expected) {
          unexpected++;
        }
        shown = code == null ? oneLine(r.getText()) : code + ": " + r.getErrorMessage();
      }
      out.printf(
          "%-8s %-13s %-14s %7d  %s%n",
          j.tenant(),
          j.adapter() == null ? "(base)" : j.adapter(),
          oneLine(j.prompt()),
          latency[i],
          shown.length() > 72 ? shown.substring(0, 72) : shown);
    }
    long[] sorted = Arrays.copyOf(latency, latency.length);
    Arrays.sort(sorted);
    out.printf(
        "demo: %d requests, %d replies, %d unexpected errors, %.1f tok/s, p50 %d ms%n",
        jobs.size(), replies, unexpected, tokens / secs, sorted[sorted.length / 2]);
    return unexpected;
  }

  private static String oneLine(String s) {
    return s.replace("\n", "⏎").replace("\t", " ");
  }
}
