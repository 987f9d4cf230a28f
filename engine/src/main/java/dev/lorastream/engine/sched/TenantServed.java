package dev.lorastream.engine.sched;

import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Tokens served per tenant, for metrics: prompt tokens computed (each once, not again when a
 * preempted sequence is recomputed) and tokens generated. To bound the meters' cardinality the
 * first {@link #MAX_NAMED} tenants served keep their own name and all later ones are counted
 * together under {@link #OTHER}; a tenant never moves between the two, so every total only grows
 * (as a counter must). Requests of no tenant count under {@link #NONE}. Written by the engine
 * thread, read by anyone.
 */
public final class TenantServed {
  /** Tenants counted under their own name. */
  public static final int MAX_NAMED = 100;

  /** The name the tenants past {@link #MAX_NAMED} are counted under. */
  public static final String OTHER = "other";

  /** The name requests of no tenant are counted under. */
  public static final String NONE = "none";

  /** One tenant's tokens served. */
  public record Tokens(long prompt, long generated) {}

  private static final class Cell {
    volatile long prompt; // written by the engine thread only
    volatile long generated;
  }

  private final Map<String, Cell> cells = new ConcurrentHashMap<>();
  private final int maxNamed;

  public TenantServed() {
    this(MAX_NAMED);
  }

  TenantServed(int maxNamed) {
    this.maxNamed = maxNamed;
  }

  void record(String tenant, int promptTokens, int generatedTokens) {
    if (promptTokens == 0 && generatedTokens == 0) {
      return;
    }
    Cell c = cells.get(nameOf(tenant));
    if (c == null) {
      c = cells.computeIfAbsent(namedOrOther(tenant), k -> new Cell());
    }
    c.prompt += promptTokens;
    c.generated += generatedTokens;
  }

  /**
   * The name {@code tenant}'s tokens are counted under ({@link #OTHER} past the cap), or null if
   * none of its tokens has been served yet.
   */
  public String keyOf(String tenant) {
    String name = nameOf(tenant);
    if (cells.containsKey(name)) {
      return name;
    }
    return cells.containsKey(OTHER) && namedCount() >= maxNamed ? OTHER : null;
  }

  /** The tokens counted under {@code key} (a name from {@link #keyOf}); zeros when none. */
  public Tokens tokens(String key) {
    Cell c = cells.get(key);
    return c == null ? new Tokens(0, 0) : new Tokens(c.prompt, c.generated);
  }

  /** Every key's tokens now, sorted by key; at most {@link #MAX_NAMED} + 1 entries. */
  public Map<String, Tokens> snapshot() {
    Map<String, Tokens> out = new TreeMap<>();
    cells.forEach((k, c) -> out.put(k, new Tokens(c.prompt, c.generated)));
    return out;
  }

  private static String nameOf(String tenant) {
    return tenant == null ? NONE : tenant;
  }

  private String namedOrOther(String tenant) {
    return namedCount() < maxNamed ? nameOf(tenant) : OTHER;
  }

  private int namedCount() {
    return cells.size() - (cells.containsKey(OTHER) ? 1 : 0);
  }
}
