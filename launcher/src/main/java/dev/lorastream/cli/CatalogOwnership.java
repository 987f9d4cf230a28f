package dev.lorastream.cli;

import dev.lorastream.schemas.AdapterRecord;
import dev.lorastream.schemas.Topics;

/**
 * Who may replace or remove a registered adapter through {@code lorastream adapters}: a tenant its
 * own adapters; a public adapter (owner null) is replaced only by another public registration
 * ({@code --public}, so that no tenant makes a shared adapter its own) and removed by any tenant.
 * The rule guards against mistakes, not against attackers: who may write {@code lora.adapters} at
 * all is Kafka's ACLs' to say (the catalog administrator principal).
 */
final class CatalogOwnership {
  private CatalogOwnership() {}

  /**
   * Why {@code tenant} may not register over {@code before} (null: not registered), or null when it
   * may.
   */
  static String refuseAdd(AdapterRecord before, String tenant, boolean isPublic) {
    if (before == null) {
      return null;
    }
    String owner = before.getOwnerTenant();
    if (owner != null && !owner.equals(tenant)) {
      return "adapter "
          + before.getAdapterId()
          + " belongs to tenant "
          + owner
          + "; choose another --id";
    }
    if (owner == null && !isPublic) {
      return "adapter "
          + before.getAdapterId()
          + " is public; replace it with --public, or remove it first (adapters rm)";
    }
    return null;
  }

  /**
   * Why {@code tenant} may not remove {@code id} (registered as {@code before}, null: not
   * registered), or null when it may.
   */
  static String refuseRm(AdapterRecord before, String id, String tenant) {
    if (before == null) {
      return "adapter " + id + " is not registered on " + Topics.ADAPTERS.name();
    }
    String owner = before.getOwnerTenant();
    if (owner != null && !owner.equals(tenant)) {
      return "adapter " + id + " belongs to tenant " + owner + ", not " + tenant;
    }
    return null;
  }
}
