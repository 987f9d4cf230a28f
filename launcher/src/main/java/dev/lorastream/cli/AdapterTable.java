package dev.lorastream.cli;

import dev.lorastream.schemas.AdapterRecord;
import dev.lorastream.schemas.Topics;
import java.io.PrintWriter;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;

/** How {@code lorastream adapters ls} and {@code show} print the catalog. */
final class AdapterTable {
  private static final List<String> HEADER =
      List.of("ID", "OWNER", "RANK", "SIZE", "BASE MODEL", "SOURCE", "CREATED");

  private AdapterTable() {}

  /** {@code owner acme}, or {@code public}. */
  static String owner(AdapterRecord r) {
    return r.getOwnerTenant() == null ? "public" : "owner " + r.getOwnerTenant();
  }

  /**
   * One line per adapter, sorted by id, columns aligned; with {@code tenant}, only its own adapters
   * and the public ones. Owner {@code -} is public; size {@code -} is unknown.
   */
  static void list(AdapterTopic.Snapshot s, String tenant, PrintWriter out) {
    List<List<String>> rows = new ArrayList<>();
    rows.add(HEADER);
    for (AdapterRecord r : s.adapters().values()) {
      String owner = r.getOwnerTenant();
      if (tenant != null && owner != null && !owner.equals(tenant)) {
        continue;
      }
      rows.add(
          List.of(
              r.getAdapterId(),
              owner == null ? "-" : owner,
              String.valueOf(r.getRank()),
              r.getSizeBytes() == 0 ? "-" : String.valueOf(r.getSizeBytes()),
              r.getBaseModel(),
              r.getSourceUri(),
              created(r)));
    }
    int[] width = new int[HEADER.size()];
    for (List<String> row : rows) {
      for (int i = 0; i < width.length; i++) {
        width[i] = Math.max(width[i], row.get(i).length());
      }
    }
    for (List<String> row : rows) {
      StringBuilder line = new StringBuilder();
      for (int i = 0; i < width.length; i++) {
        line.append(row.get(i));
        if (i < width.length - 1) {
          line.append(" ".repeat(width[i] - row.get(i).length() + 2));
        }
      }
      out.println(line);
    }
  }

  /** Every field of one record, one a line. */
  static void show(AdapterRecord r, PrintWriter out) {
    out.println("adapterId:   " + r.getAdapterId());
    out.println("ownerTenant: " + (r.getOwnerTenant() == null ? "- (public)" : r.getOwnerTenant()));
    out.println("sourceUri:   " + r.getSourceUri());
    out.println("sha256:      " + (r.getSha256() == null ? "- (not checked)" : r.getSha256()));
    out.println("rank:        " + r.getRank());
    out.println("baseModel:   " + r.getBaseModel());
    out.println("sizeBytes:   " + (r.getSizeBytes() == 0 ? "- (unknown)" : r.getSizeBytes()));
    out.println("created:     " + created(r) + " (createdEpochMs " + r.getCreatedEpochMs() + ")");
  }

  /** The count of records the catalog rule skipped, when there are any. */
  static void skipped(AdapterTopic.Snapshot s, PrintWriter err, String what) {
    if (s.skipped() > 0) {
      err.println(
          "adapters "
              + what
              + ": skipped "
              + s.skipped()
              + " unreadable record(s) of "
              + Topics.ADAPTERS.name()
              + " (the batcher copies them to "
              + Topics.ADAPTERS_DLQ.name()
              + ")");
    }
  }

  private static String created(AdapterRecord r) {
    return Instant.ofEpochMilli(r.getCreatedEpochMs()).truncatedTo(ChronoUnit.SECONDS).toString();
  }
}
