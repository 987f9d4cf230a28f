package dev.lorastream.engine.sched;

import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Fair shares between tenants: the Virtual Token Counter (VTC) of Sheng et al., "Fairness in
 * Serving Large Language Models" (OSDI 2024, arXiv:2401.00588). Each tenant has a counter of the
 * weighted service it has received: {@link #PROMPT_WEIGHT} (the paper's w_p) per prompt token
 * computed plus {@link #GENERATED_WEIGHT} (w_q) per token generated, divided by the tenant's weight
 * ({@link #WEIGHTS_PROPERTY}, default 1). The paper's defaults w_p = 1 and w_q = 2 are used: a
 * generated token costs about twice a prompt token (decode runs one token per sequence per step,
 * prefill many). The {@link Scheduler} admits, among waiting sequences of equal effective priority,
 * those of the tenant with the lowest counter first, so backlogged tenants receive service in
 * proportion to their weights whatever their request rates.
 *
 * <p>A tenant that becomes active (its first sequence enters the scheduler while it has none
 * waiting or running) has its counter lifted to the lowest counter of the active tenants, or, when
 * none is active, to the counter of the last tenant that became idle (the paper's rule): an idle
 * tenant banks no credit, so on its return it cannot take a burst of service ahead of those that
 * kept working.
 *
 * <p>Memory stays bounded: once more than {@link #MAX_TENANTS} tenants are known, idle tenants
 * whose counter is at or below that lift floor are forgotten (losslessly: on their return they
 * would be lifted to the floor anyway, which never decreases), then if need be the idle ones with
 * the lowest counters, down to half the bound. Counters are doubles and are never renormalised: at
 * 2^53 weighted tokens they still count single tokens exactly. Not thread-safe: the engine thread
 * owns it.
 */
public final class FairShares {
  /** The system property with the tenants' weights, e.g. {@code acme=4,beta=0.5}. */
  public static final String WEIGHTS_PROPERTY = "lorastream.fair.tenant-weights";

  /** VTC's w_p: counter units per prompt token computed (the paper's default). */
  static final double PROMPT_WEIGHT = 1;

  /** VTC's w_q: counter units per generated token (the paper's default). */
  static final double GENERATED_WEIGHT = 2;

  /** Tenants remembered before idle ones are forgotten. */
  static final int MAX_TENANTS = 4096;

  /** One tenant's counter; each of its sequences in the scheduler refers to it. */
  static final class Tenant {
    final String name; // null: the anonymous tenant
    final double weight;
    double counter;
    int sequences; // waiting or running in the scheduler

    private Tenant(String name, double weight) {
      this.name = name;
      this.weight = weight;
    }
  }

  private final Map<String, Double> weights;
  private final Map<String, Tenant> tenants = new HashMap<>(); // null key: anonymous
  private final Set<Tenant> active = Collections.newSetFromMap(new IdentityHashMap<>());
  private final TenantServed served;
  private double lastLeft; // counter of the last tenant that became idle

  /**
   * @param weights tenant → weight (positive); tenants not named weigh 1
   * @param served where the tokens served per tenant are counted for metrics
   */
  FairShares(Map<String, Double> weights, TenantServed served) {
    this.weights = Map.copyOf(weights);
    this.served = served;
  }

  /** The weights of {@link #WEIGHTS_PROPERTY}'s value (none when it is not set). */
  static Map<String, Double> weightsFromProperty() {
    return parseWeights(System.getProperty(WEIGHTS_PROPERTY, ""));
  }

  /**
   * Parses {@code tenant=weight} entries separated by commas (blanks around them ignored); each
   * weight is a positive finite number.
   *
   * @throws IllegalArgumentException naming {@link #WEIGHTS_PROPERTY} and the bad entry
   */
  public static Map<String, Double> parseWeights(String spec) {
    Map<String, Double> out = new HashMap<>();
    if (spec.isBlank()) {
      return out;
    }
    for (String entry : spec.split(",", -1)) {
      String e = entry.strip();
      int eq = e.indexOf('=');
      String tenant = eq < 0 ? "" : e.substring(0, eq).strip();
      double w;
      try {
        w = eq < 0 ? Double.NaN : Double.parseDouble(e.substring(eq + 1).strip());
      } catch (NumberFormatException x) {
        w = Double.NaN;
      }
      if (tenant.isEmpty() || !(w > 0) || Double.isInfinite(w)) {
        throw new IllegalArgumentException(
            WEIGHTS_PROPERTY
                + ": bad entry '"
                + e
                + "'; expected tenant=weight with a positive number, entries separated by commas"
                + " (e.g. acme=4,beta=0.5)");
      }
      if (out.put(tenant, w) != null) {
        throw new IllegalArgumentException(
            WEIGHTS_PROPERTY + ": tenant '" + tenant + "' is given twice; give each tenant once");
      }
    }
    return out;
  }

  /**
   * A sequence of {@code name} enters the scheduler; returns its tenant, whose counter is lifted if
   * the tenant was idle.
   */
  Tenant arrive(String name) {
    Tenant t = tenants.get(name);
    if (t == null) {
      t = new Tenant(name, name == null ? 1.0 : weights.getOrDefault(name, 1.0));
      tenants.put(name, t);
    }
    if (t.sequences++ == 0) {
      t.counter = Math.max(t.counter, floor());
      active.add(t);
    }
    return t;
  }

  /** A sequence of {@code t} left the scheduler (finished, failed or cancelled). */
  void leave(Tenant t) {
    if (--t.sequences > 0) {
      return;
    }
    active.remove(t);
    lastLeft = t.counter;
    if (tenants.size() > MAX_TENANTS) {
      prune();
    }
  }

  /** Service received by {@code t}: prompt tokens computed for the first time, tokens sampled. */
  void charge(Tenant t, int promptTokens, int generatedTokens) {
    t.counter += (PROMPT_WEIGHT * promptTokens + GENERATED_WEIGHT * generatedTokens) / t.weight;
    served.record(t.name, promptTokens, generatedTokens);
  }

  /** Tenants with a sequence waiting or running. */
  int activeTenants() {
    return active.size();
  }

  /** Tenants remembered (active or idle). */
  int knownTenants() {
    return tenants.size();
  }

  /** {@code name}'s counter, or NaN when it is not remembered. */
  double counter(String name) {
    Tenant t = tenants.get(name);
    return t == null ? Double.NaN : t.counter;
  }

  /** What an arriving idle tenant's counter is lifted to; it never decreases. */
  private double floor() {
    if (active.isEmpty()) {
      return lastLeft;
    }
    double min = Double.POSITIVE_INFINITY;
    for (Tenant t : active) {
      min = Math.min(min, t.counter);
    }
    return min;
  }

  private void prune() {
    double floor = floor();
    tenants.values().removeIf(t -> t.sequences == 0 && t.counter <= floor);
    if (tenants.size() <= MAX_TENANTS / 2) {
      return;
    }
    List<Tenant> idle = new ArrayList<>();
    for (Tenant t : tenants.values()) {
      if (t.sequences == 0) {
        idle.add(t);
      }
    }
    idle.sort(Comparator.comparingDouble(t -> t.counter));
    for (int i = 0; i < idle.size() && tenants.size() > MAX_TENANTS / 2; i++) {
      tenants.remove(idle.get(i).name);
    }
  }
}
