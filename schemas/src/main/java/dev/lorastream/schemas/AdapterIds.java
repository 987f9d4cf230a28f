package dev.lorastream.schemas;

import java.util.regex.Pattern;

/**
 * Adapter ids: the key of {@code lora.adapters} and {@code InferenceRequest.adapterId}, declared
 * once so that the catalog's writer ({@code lorastream adapters add}), the batcher and the
 * consumers agree on what an id may be.
 *
 * <p>A registered adapter id is 1 to 128 characters of {@code A-Z a-z 0-9 . _ -}, starting with a
 * letter or digit ({@link #ID}): no {@code /}, because {@code TENANT/NAME} is reserved for
 * just-in-time adapters resolved from a tenant's folder, never registered on {@code lora.adapters};
 * no leading {@code .} or {@code -}, so an id is never {@code .}, {@code ..} or something that
 * reads as a command-line option.
 */
public final class AdapterIds {

  /** Longest legal adapter id, in characters. */
  public static final int MAX_LENGTH = 128;

  /** A legal registered adapter id. */
  public static final Pattern ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,127}");

  private AdapterIds() {}

  /** True when {@code id} is a legal registered adapter id. */
  public static boolean isId(String id) {
    return id != null && ID.matcher(id).matches();
  }

  /** {@code id}, or a failure saying what an adapter id must be. */
  public static String requireId(String id) {
    if (isId(id)) {
      return id;
    }
    String why =
        id != null && id.indexOf('/') >= 0
            ? " ('/' is reserved for TENANT/NAME adapters resolved from a tenant's folder, which"
                + " are not registered)"
            : "";
    throw new IllegalArgumentException(
        "'"
            + id
            + "' is not an adapter id: 1 to "
            + MAX_LENGTH
            + " characters of A-Z a-z 0-9 . _ -, starting with a letter or digit"
            + why);
  }
}
