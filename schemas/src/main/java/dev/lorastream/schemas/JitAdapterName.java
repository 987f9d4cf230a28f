package dev.lorastream.schemas;

import java.util.regex.Pattern;

/**
 * A just-in-time adapter name, {@code TENANT/NAME}: a request may name an adapter that is not
 * registered in {@code lora.adapters} by its tenant and its folder name, and the inference consumer
 * loads it from {@code <root>/<TENANT>/<NAME>} under its adapter roots. The one rule for the
 * batcher (which admits such a request only from {@code TENANT} itself) and the consumer (which
 * resolves the folder), so that they cannot disagree about what such a name means.
 *
 * <p>An adapter id is a just-in-time name exactly when it contains a {@code /} ({@link #isJit});
 * registered adapter ids therefore never contain one. {@code TENANT} is a tenant name ({@link
 * Tenants#isName}); {@code NAME} is one path segment of 1 to 128 characters of {@code A-Z a-z 0-9 .
 * _ -}, neither {@code .} nor {@code ..}, so it can never lead out of the tenant's folder.
 *
 * @param tenant the tenant whose folder holds the adapter
 * @param name the adapter's folder inside it
 */
public record JitAdapterName(String tenant, String name) {

  /** A legal {@code NAME}: one path segment (the dot-only names are refused separately). */
  public static final Pattern NAME = Pattern.compile("[A-Za-z0-9._-]{1,128}");

  public JitAdapterName {
    Tenants.requireName(tenant);
    requireSegment(name);
  }

  /** True when {@code adapterId} is a just-in-time name (it contains a {@code /}). */
  public static boolean isJit(String adapterId) {
    return adapterId != null && adapterId.indexOf('/') >= 0;
  }

  /**
   * The tenant part of a just-in-time name, unchecked: the text before the first {@code /}. The
   * batcher compares it with the request's tenant before anything else, so that a request naming
   * another tenant's adapter learns nothing about it.
   */
  public static String tenantPart(String adapterId) {
    int slash = adapterId.indexOf('/');
    if (slash < 0) {
      throw new IllegalArgumentException("'" + adapterId + "' is not a TENANT/NAME adapter name");
    }
    return adapterId.substring(0, slash);
  }

  /**
   * Parses {@code TENANT/NAME}.
   *
   * @throws IllegalArgumentException naming what is wrong: no or several {@code /}, a tenant that
   *     is not a tenant name, or a NAME that is not one legal path segment
   */
  public static JitAdapterName parse(String adapterId) {
    String tenant = tenantPart(adapterId);
    String name = adapterId.substring(tenant.length() + 1);
    if (name.indexOf('/') >= 0) {
      throw new IllegalArgumentException(
          "adapter '"
              + adapterId
              + "' has more than one '/': a just-in-time adapter is named TENANT/NAME, with NAME a"
              + " single folder name");
    }
    if (!Tenants.isName(tenant)) {
      throw new IllegalArgumentException("adapter '" + adapterId + "': " + tenantProblem(tenant));
    }
    if (!isSegment(name)) {
      throw new IllegalArgumentException("adapter '" + adapterId + "': " + segmentProblem(name));
    }
    return new JitAdapterName(tenant, name);
  }

  /** True when {@code name} is a legal {@code NAME}. */
  public static boolean isSegment(String name) {
    return name != null && NAME.matcher(name).matches() && !name.equals(".") && !name.equals("..");
  }

  /** {@code TENANT/NAME}. */
  @Override
  public String toString() {
    return tenant + "/" + name;
  }

  private static void requireSegment(String name) {
    if (!isSegment(name)) {
      throw new IllegalArgumentException(segmentProblem(name));
    }
  }

  private static String tenantProblem(String tenant) {
    return "'"
        + tenant
        + "' is not a tenant name (1 to 48 characters of a-z 0-9 -, starting with a letter or"
        + " digit)";
  }

  private static String segmentProblem(String name) {
    return "NAME '"
        + name
        + "' is not a legal adapter folder name: 1 to 128 characters of A-Z a-z 0-9 . _ -, and"
        + " not '.' or '..'";
  }
}
