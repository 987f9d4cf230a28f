package dev.lorastream.schemas;

import java.util.Collection;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;

/**
 * How every lorastream service reads config keys from environment variables (one rule for all of
 * them): a key's variable is the key upper-cased with each {@code .} and {@code -} turned into
 * {@code _}, so {@code LORASTREAM_CONSUMER_MAX_INFLIGHT_BATCHES} sets {@code
 * lorastream.consumer.max-inflight-batches} and {@code BATCHER_MAX_WAIT_MS} sets {@code
 * batcher.max.wait.ms}.
 *
 * <p>A variable name cannot hold {@code .} or {@code -}, so going back from a variable to its key
 * needs the declared keys: a variable that names none of them becomes its name lower-cased with
 * {@code _} turned into {@code .} (pass-through settings such as Kafka's: {@code STATE_DIR} is
 * {@code state.dir}). Immutable.
 */
public final class EnvKeys {
  private final Map<String, String> keyByVariable;

  private EnvKeys(Map<String, String> keyByVariable) {
    this.keyByVariable = Map.copyOf(keyByVariable);
  }

  /**
   * The mapping for {@code keys}; fails naming both keys when two share a variable ({@code a.b-c},
   * {@code a.b.c}).
   */
  public static EnvKeys of(Collection<String> keys) {
    Map<String, String> m = new HashMap<>();
    for (String key : keys) {
      String other = m.put(variable(key), key);
      if (other != null && !other.equals(key)) {
        throw new IllegalArgumentException(
            "config keys "
                + other
                + " and "
                + key
                + " have the same environment variable "
                + variable(key));
      }
    }
    return new EnvKeys(m);
  }

  /** The environment variable that sets {@code key}. */
  public static String variable(String key) {
    return key.toUpperCase(Locale.ROOT).replace('.', '_').replace('-', '_');
  }

  /**
   * The key variable {@code name} names when no declared key has it: lower case, {@code _} → {@code
   * .}.
   */
  public static String dotted(String name) {
    return name.toLowerCase(Locale.ROOT).replace('_', '.');
  }

  /**
   * The key variable {@code name} sets: the declared key whose {@link #variable} it is, else {@link
   * #dotted}.
   */
  public String key(String name) {
    String key = keyByVariable.get(name);
    return key != null ? key : dotted(name);
  }

  /**
   * Refuses a setting under {@code prefix} that is none of {@code known}: a misspelt {@code
   * LORASTREAM_CONSUMER_MAX_INFLIGT_BATCHES} would otherwise be read as a key nobody reads, and the
   * service would start with the default.
   *
   * @throws IllegalArgumentException naming the key, its environment variable and the known keys
   */
  public static void requireKnown(
      Map<String, String> props, String prefix, Collection<String> known, String service) {
    for (String key : new java.util.TreeSet<>(props.keySet())) {
      if (key.startsWith(prefix) && !known.contains(key)) {
        throw new IllegalArgumentException(
            "unknown setting "
                + key
                + " (system property -D"
                + key
                + " or environment "
                + variable(key)
                + ") for the "
                + service
                + "; its settings under "
                + prefix
                + " are "
                + known.stream().filter(k -> k.startsWith(prefix)).sorted().toList());
      }
    }
  }

  /**
   * {@code sys} overlaid on the {@code LORASTREAM_*} variables of {@code env}, each under the key
   * it sets ({@link #key}): how a service reads its settings.
   */
  public Map<String, String> overlay(Map<String, String> env, Properties sys) {
    Map<String, String> m = new HashMap<>();
    env.forEach(
        (k, v) -> {
          if (k.startsWith("LORASTREAM_")) {
            m.put(key(k), v);
          }
        });
    sys.forEach((k, v) -> m.put(k.toString(), v.toString()));
    return m;
  }
}
