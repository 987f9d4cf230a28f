package dev.lorastream.ingest.bulk;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Where {@code bulk} keeps its results, so a run can be interrupted and resumed.
 *
 * <p>Append, then reorder: while a run goes, every result is appended (and flushed) to a journal
 * next to the output, {@code <output>.partial}, in completion order, so a crash loses at most the
 * line being written. At the end the previous output, the journal and this run's results are
 * merged, written in input order to {@code <output>.tmp} and moved over the output atomically; then
 * the journal is deleted. The output file is therefore always either the old complete file or the
 * new one, never half written. A rerun reads the output and any journal a crashed run left behind
 * ({@link #readPrevious}); unreadable lines (a torn last line) are skipped, their documents are
 * simply sent again.
 *
 * <p>Not thread-safe, except {@link #append}, which may be called from any thread.
 */
public final class ResultStore implements AutoCloseable {
  private final Path output;
  private final Path journal;
  private BufferedWriter journalWriter;

  public ResultStore(Path output) {
    this.output = output.toAbsolutePath();
    this.journal = this.output.resolveSibling(this.output.getFileName() + ".partial");
  }

  public Path journal() {
    return journal;
  }

  /**
   * Rows of earlier runs by id, output first, then the journal (later rows win), in the order first
   * seen.
   *
   * @param skipped receives a note for each unreadable line
   */
  public Map<String, ResultRow> readPrevious(List<String> skipped) throws IOException {
    Map<String, ResultRow> rows = new LinkedHashMap<>();
    for (Path file : new Path[] {output, journal}) {
      List<String> lines;
      try {
        lines = Files.readAllLines(file, StandardCharsets.UTF_8);
      } catch (NoSuchFileException e) {
        continue;
      }
      for (int i = 0; i < lines.size(); i++) {
        if (lines.get(i).isBlank()) {
          continue;
        }
        try {
          ResultRow row = ResultRow.fromJson(lines.get(i));
          rows.put(row.id(), row);
        } catch (IllegalArgumentException e) {
          skipped.add(file.getFileName() + " line " + (i + 1) + ": " + e.getMessage());
        }
      }
    }
    return rows;
  }

  /** Appends one row to the journal and flushes it. */
  public synchronized void append(ResultRow row) {
    try {
      if (journalWriter == null) {
        journalWriter =
            Files.newBufferedWriter(
                journal,
                StandardCharsets.UTF_8,
                StandardOpenOption.CREATE,
                StandardOpenOption.APPEND);
      }
      journalWriter.write(row.toJson());
      journalWriter.write('\n');
      journalWriter.flush();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot append to " + journal, e);
    }
  }

  /** Writes {@code rows} as the whole output, atomically, then deletes the journal. */
  public void writeFinal(List<ResultRow> rows) throws IOException {
    close();
    Path tmp = output.resolveSibling(output.getFileName() + ".tmp");
    try (BufferedWriter w = Files.newBufferedWriter(tmp, StandardCharsets.UTF_8)) {
      for (ResultRow row : rows) {
        w.write(row.toJson());
        w.write('\n');
      }
    }
    Files.move(tmp, output, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    Files.deleteIfExists(journal);
  }

  @Override
  public synchronized void close() throws IOException {
    if (journalWriter != null) {
      journalWriter.close();
      journalWriter = null;
    }
  }
}
