package dev.lorastream.cli.chaos;

import java.util.List;
import java.util.OptionalLong;

/**
 * One fault of the schedule: SIGKILL {@code service} at {@code atFraction} of the load's duration
 * and start it again at once (the broker on the same ports and log folder). Recovery is measured
 * two ways, both from the moment of the kill:
 *
 * <ul>
 *   <li><b>serving</b>: until the restarted service serves again (consumer and batcher: {@code
 *       /health} answers 200; broker: it answers a metadata request);
 *   <li><b>first reply</b>: until the first committed reply that the restarted service took part
 *       in: for a consumer, the first reply it wrote (its {@code servedBy}) after the restart; for
 *       the batcher and the broker, the first reply to a request created after the kill.
 * </ul>
 *
 * @param killedAtMs epoch ms of the kill (0 until done)
 * @param servingAtMs epoch ms when the restarted service served (0 until then)
 */
record ChaosFault(double atFraction, String service, long killedAtMs, long servingAtMs) {

  static ChaosFault planned(double atFraction, String service) {
    return new ChaosFault(atFraction, service, 0, 0);
  }

  /**
   * The schedule: each consumer killed, the batcher once, the first consumer again, the broker
   * once; spread over the middle of the load so that every fault meets traffic.
   */
  static List<ChaosFault> schedule() {
    return List.of(
        planned(0.12, "chaos-c1"),
        planned(0.26, "batcher"),
        planned(0.40, "chaos-c2"),
        planned(0.54, "broker"),
        planned(0.68, "chaos-c1"));
  }

  ChaosFault done(long killedAt, long servingAt) {
    return new ChaosFault(atFraction, service, killedAt, servingAt);
  }

  long servingMs() {
    return servingAtMs - killedAtMs;
  }

  /**
   * Ms from the kill to the first reply that shows the restarted service working (see the class
   * doc); empty when there was none.
   */
  OptionalLong firstReplyMs(List<ChaosTally.Reply> replies, java.util.Map<String, Long> sentAt) {
    boolean consumer = service.startsWith("chaos-c");
    return replies.stream()
        .filter(r -> r.timestampMs() >= killedAtMs)
        .filter(
            r ->
                consumer
                    ? service.equals(r.servedBy())
                    : sentAt.getOrDefault(r.id(), 0L) >= killedAtMs)
        .mapToLong(r -> r.timestampMs() - killedAtMs)
        .min();
  }
}
