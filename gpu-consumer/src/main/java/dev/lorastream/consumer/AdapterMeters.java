package dev.lorastream.consumer;

import dev.lorastream.engine.sched.AdapterInfo;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.MultiGauge;
import io.micrometer.core.instrument.Tags;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Per-adapter gauges from the engine's {@link AdapterInfo} snapshots: {@code
 * lorastream.adapter.requests.running} and {@code .waiting} tagged {@code adapter}, and {@code
 * lorastream.adapter.resident} tagged {@code adapter} and {@code tier} (1 in the adapter's tier; no
 * series for the other tiers). Only adapters with running or waiting requests have series: those of
 * an adapter that went idle are removed from the registry at the next snapshot, so the set stays
 * bounded by the work in the engine.
 *
 * <p>vLLM's {@code vllm:lora_requests_info} is one gauge whose labels carry the lists: {@code
 * running_lora_adapters} and {@code waiting_lora_adapters} (adapter names joined by commas) and
 * {@code max_lora}, set to the time of the last update. Every new combination of adapters makes a
 * new series and the counts per adapter are not there, so instead each adapter gets its own series
 * here, with a cap: past {@link #MAX_SERIES_PROPERTY} adapters (100), the adapters with the most
 * requests (running plus waiting; ties by id) keep their own series and the rest are summed under
 * {@code adapter="_other"}, whose {@code resident} series count the adapters of each tier.
 *
 * <p>{@link #update} runs on the engine thread as each snapshot is published; the gauges read the
 * latest one, so a scrape never sees a row half updated.
 */
final class AdapterMeters {
  /** The system property with the cap on adapters with their own series. */
  static final String MAX_SERIES_PROPERTY = "lorastream.metrics.max-adapter-series";

  /** {@link #MAX_SERIES_PROPERTY}'s default. */
  static final int DEFAULT_MAX_SERIES = 100;

  /** The adapter tag of the adapters past the cap, summed. */
  static final String OTHER = "_other";

  /** One adapter tag's values: running and waiting requests, and adapters per tier. */
  record Counts(int running, int waiting, Map<AdapterInfo.Tier, Integer> resident) {}

  private static final Comparator<AdapterInfo> BUSIEST_FIRST =
      Comparator.comparingInt(AdapterInfo::requests)
          .reversed()
          .thenComparing(AdapterInfo::adapterId);

  private final int maxSeries;
  private final MultiGauge running;
  private final MultiGauge waiting;
  private final MultiGauge resident;
  private volatile Map<String, Counts> current = Map.of();

  /**
   * @param maxSeries adapters that get their own series at most ({@link #MAX_SERIES_PROPERTY}); 0
   *     sums every adapter under {@code _other}
   */
  AdapterMeters(MeterRegistry registry, int maxSeries) {
    if (maxSeries < 0) {
      throw new IllegalArgumentException(
          MAX_SERIES_PROPERTY + " must be at least 0, not " + maxSeries);
    }
    this.maxSeries = maxSeries;
    this.running =
        MultiGauge.builder("lorastream.adapter.requests.running")
            .description("sequences of the adapter running in the engine")
            .register(registry);
    this.waiting =
        MultiGauge.builder("lorastream.adapter.requests.waiting")
            .description("sequences of the adapter queued in the engine")
            .register(registry);
    this.resident =
        MultiGauge.builder("lorastream.adapter.resident")
            .description(
                "1 in the tier the adapter's weights are in (backend, host, loading, none)")
            .register(registry);
  }

  /**
   * {@link #MAX_SERIES_PROPERTY}, or its default.
   *
   * @throws IllegalArgumentException when it is not a whole number of at least 0
   */
  static int maxSeriesFromProperty() {
    String v = System.getProperty(MAX_SERIES_PROPERTY);
    if (v == null || v.isBlank()) {
      return DEFAULT_MAX_SERIES;
    }
    int n;
    try {
      n = Integer.parseInt(v.trim());
    } catch (NumberFormatException e) {
      n = -1;
    }
    if (n < 0) {
      throw new IllegalArgumentException(
          MAX_SERIES_PROPERTY
              + "="
              + v
              + " is invalid: must be a whole number of at least 0 (adapters with their own"
              + " series; the rest are summed under adapter=\""
              + OTHER
              + "\")");
    }
    return n;
  }

  /** Replaces every series by those of {@code snapshot}, within the cap. */
  void update(List<AdapterInfo> snapshot) {
    Map<String, Counts> next = capped(snapshot, maxSeries);
    current = next; // before the rows: a new row reads its value from it at once
    List<MultiGauge.Row<?>> run = new ArrayList<>();
    List<MultiGauge.Row<?>> wait = new ArrayList<>();
    List<MultiGauge.Row<?>> res = new ArrayList<>();
    for (Map.Entry<String, Counts> e : next.entrySet()) {
      String adapter = e.getKey();
      Tags tags = Tags.of("adapter", adapter);
      run.add(MultiGauge.Row.of(tags, () -> value(adapter, Counts::running)));
      wait.add(MultiGauge.Row.of(tags, () -> value(adapter, Counts::waiting)));
      for (AdapterInfo.Tier t : e.getValue().resident().keySet()) {
        res.add(
            MultiGauge.Row.of(
                tags.and("tier", t.tag()),
                () -> value(adapter, c -> c.resident().getOrDefault(t, 0))));
      }
    }
    // overwrite false: a row still present keeps its gauge, which reads the new values
    running.register(run, false);
    waiting.register(wait, false);
    resident.register(res, false);
  }

  /** The value of {@code adapter}'s row now; 0 once it left the snapshot (removed next). */
  private Integer value(String adapter, java.util.function.ToIntFunction<Counts> f) {
    Counts c = current.get(adapter);
    return c == null ? 0 : f.applyAsInt(c);
  }

  /**
   * The series of {@code snapshot}: the {@code maxSeries} adapters with the most requests under
   * their own id, and, if there are more, the rest summed under {@link #OTHER}.
   */
  static Map<String, Counts> capped(List<AdapterInfo> snapshot, int maxSeries) {
    List<AdapterInfo> busiest = new ArrayList<>(snapshot);
    busiest.sort(BUSIEST_FIRST);
    Map<String, Counts> out = new LinkedHashMap<>();
    int run = 0;
    int wait = 0;
    Map<AdapterInfo.Tier, Integer> tiers = new EnumMap<>(AdapterInfo.Tier.class);
    for (int i = 0; i < busiest.size(); i++) {
      AdapterInfo a = busiest.get(i);
      if (i < maxSeries) {
        out.put(a.adapterId(), new Counts(a.running(), a.waiting(), Map.of(a.tier(), 1)));
      } else {
        run += a.running();
        wait += a.waiting();
        tiers.merge(a.tier(), 1, Integer::sum);
      }
    }
    if (busiest.size() > maxSeries) {
      out.put(OTHER, new Counts(run, wait, Map.copyOf(tiers)));
    }
    return out;
  }
}
