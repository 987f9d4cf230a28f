package dev.lorastream.cli;

import dev.lorastream.schemas.InferenceResult;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * Prints the demo's replies as a table and the summary line; counts unexpected errors. Latencies
 * are what the client saw: from submitting a request to its reply arriving.
 */
final class DemoTable {
  private DemoTable() {}

  /**
   * @param latencyMs per job, submit to reply (milliseconds)
   * @param maxTokens per job, the maxTokens it asked for, when lengths were mixed (else null): the
   *     p50 latency of the shortest and the longest quartile by maxTokens is printed too
   */
  static int print(
      PrintStream out,
      List<DemoFixtures.Job> jobs,
      List<CompletableFuture<InferenceResult>> futures,
      long[] latencyMs,
      int[] maxTokens,
      double secs) {
    out.printf("%-8s %-13s %-14s %7s  %s%n", "tenant", "adapter", "prompt", "ms", "completion");
    int unexpected = 0;
    int replies = 0;
    long tokens = 0;
    long[] latency = new long[jobs.size()];
    boolean[] answered = new boolean[jobs.size()];
    for (int i = 0; i < jobs.size(); i++) {
      DemoFixtures.Job j = jobs.get(i);
      InferenceResult r = futures.get(i).exceptionally(t -> null).join();
      String shown;
      if (r == null) {
        shown = "NO REPLY: " + futures.get(i).handle((v, t) -> t.toString()).join();
        unexpected++;
      } else {
        replies++;
        latency[i] = latencyMs[i];
        answered[i] = r.getErrorCode() == null;
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
    if (maxTokens != null) {
      printQuartiles(out, maxTokens, latency, answered);
    }
    return unexpected;
  }

  /** The p50 latency of the answered requests in the shortest and longest quartile by maxTokens. */
  private static void printQuartiles(
      PrintStream out, int[] maxTokens, long[] latency, boolean[] answered) {
    List<Integer> byLength = new ArrayList<>();
    for (int i = 0; i < maxTokens.length; i++) {
      if (answered[i]) {
        byLength.add(i);
      }
    }
    byLength.sort(Comparator.comparingInt(i -> maxTokens[i]));
    int q = Math.max(1, byLength.size() / 4);
    List<Integer> shortest = byLength.subList(0, q);
    List<Integer> longest = byLength.subList(byLength.size() - q, byLength.size());
    out.printf(
        "demo: mixed maxTokens %d-%d: shortest quartile (maxTokens <= %d) p50 %d ms,"
            + " longest quartile (maxTokens >= %d) p50 %d ms%n",
        maxTokens[byLength.getFirst()],
        maxTokens[byLength.getLast()],
        maxTokens[shortest.getLast()],
        p50(shortest, latency),
        maxTokens[longest.getFirst()],
        p50(longest, latency));
  }

  private static long p50(List<Integer> jobs, long[] latency) {
    long[] l = jobs.stream().mapToLong(i -> latency[i]).sorted().toArray();
    return l[l.length / 2];
  }

  private static String oneLine(String s) {
    return s.replace("\n", "⏎").replace("\t", " ");
  }
}
