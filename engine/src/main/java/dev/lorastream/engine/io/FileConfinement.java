package dev.lorastream.engine.io;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * Opens weight and config files for reading, refusing what is not a regular file (a FIFO would
 * block the reader, a device would never end) and, when roots are given, any file whose real path
 * (every symbolic link resolved) lies outside the real paths of the roots. A link inside a root
 * that leads to another place inside a root is fine.
 *
 * <p>The check is made on the real path, the file is opened through that real path with {@link
 * LinkOption#NOFOLLOW_LINKS}, and after opening the path must still resolve to the same file (same
 * real path and file key), so swapping a link while a file is being opened is refused. Java cannot
 * stat an open channel, so a swap that is undone between the open and the re-check is not seen;
 * that needs write access inside a root at the right microsecond. Immutable and thread-safe.
 */
public final class FileConfinement {

  /** Any path is allowed; only non-regular files are refused. */
  public static final FileConfinement NONE = new FileConfinement(null, "");

  private final List<Path> roots; // null: unconfined
  private final String setting;

  private FileConfinement(List<Path> roots, String setting) {
    this.roots = roots;
    this.setting = setting;
  }

  /**
   * Files must lie under one of {@code roots} once every link is resolved.
   *
   * @param setting the configuration key that sets the roots, named in refusals (may be empty)
   */
  public static FileConfinement within(List<Path> roots, String setting) {
    return new FileConfinement(List.copyOf(roots), Objects.requireNonNull(setting));
  }

  /** The roots as configured, or an empty list when unconfined. */
  public List<Path> roots() {
    return roots == null ? List.of() : roots;
  }

  /**
   * The real path of {@code path} (which must exist), checked to lie under a root.
   *
   * @param expectation what should be at that path, used when it is missing
   * @throws ModelFormatException when the path is missing, cannot be resolved or lies outside the
   *     roots
   */
  public Path realPath(Path path, String expectation) {
    Path real;
    try {
      real = path.toRealPath();
    } catch (NoSuchFileException e) {
      throw new ModelFormatException(path + " not found: " + expectation, e);
    } catch (IOException e) {
      throw new ModelFormatException("cannot resolve " + path + ": " + e, e);
    }
    if (roots != null && !insideRoots(real)) {
      throw new ModelFormatException(
          (real.equals(path.toAbsolutePath())
                  ? path + " is"
                  : path + " resolves to " + real + " (through a symbolic link), which is")
              + " outside the allowed roots "
              + roots
              + (setting.isEmpty() ? "" : " (" + setting + ")")
              + "; files are read only from inside them");
    }
    return real;
  }

  /**
   * Opens a regular file for reading.
   *
   * @param expectation what should be at that path (e.g. "expected a safetensors file at that
   *     path"), used when it is missing or not a regular file
   * @throws ModelFormatException when the file is missing, outside the roots, not a regular file,
   *     changed while being opened, or cannot be opened
   */
  public FileChannel open(Path file, String expectation) {
    Path real = realPath(file, expectation);
    Object key = requireRegular(file, real, expectation).fileKey();
    FileChannel ch;
    try {
      ch = FileChannel.open(real, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS);
    } catch (IOException e) {
      throw new ModelFormatException("cannot open " + describe(file, real) + ": " + e, e);
    }
    try {
      Path again = real.toRealPath();
      Object keyAgain =
          Files.readAttributes(real, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS)
              .fileKey();
      if (!again.equals(real) || !Objects.equals(key, keyAgain)) {
        throw new ModelFormatException(
            describe(file, real)
                + " changed while it was being opened (a symbolic link was swapped?); refused");
      }
      return ch;
    } catch (IOException | RuntimeException e) {
      closeQuietly(ch);
      if (e instanceof ModelFormatException m) {
        throw m;
      }
      throw new ModelFormatException(
          describe(file, real) + " changed while it was being opened: " + e, e);
    }
  }

  private static BasicFileAttributes requireRegular(Path file, Path real, String expectation) {
    BasicFileAttributes a;
    try {
      a = Files.readAttributes(real, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
    } catch (IOException e) {
      throw new ModelFormatException("cannot read the attributes of " + describe(file, real), e);
    }
    if (!a.isRegularFile()) {
      throw new ModelFormatException(
          describe(file, real) + " is " + kind(real, a) + ", not a regular file; " + expectation);
    }
    return a;
  }

  /** "a directory", "a FIFO (named pipe)", ... for a file that is not regular. */
  static String kind(Path real, BasicFileAttributes a) {
    if (a.isDirectory()) {
      return "a directory";
    }
    try {
      int mode = (Integer) Files.getAttribute(real, "unix:mode", LinkOption.NOFOLLOW_LINKS);
      return switch (mode & 0170000) {
        case 0010000 -> "a FIFO (named pipe)";
        case 0020000 -> "a character device";
        case 0060000 -> "a block device";
        case 0140000 -> "a socket";
        default -> "a special file";
      };
    } catch (IOException | UnsupportedOperationException | IllegalArgumentException e) {
      return "a special file";
    }
  }

  private static String describe(Path file, Path real) {
    return real.equals(file.toAbsolutePath()) ? file.toString() : file + " (" + real + ")";
  }

  private boolean insideRoots(Path real) {
    for (Path root : realRoots()) {
      if (real.startsWith(root)) {
        return true;
      }
    }
    return false;
  }

  /** The roots' real paths (a root that does not exist is left out: nothing lies under it). */
  private List<Path> realRoots() {
    List<Path> out = new ArrayList<>(roots.size());
    for (Path root : roots) {
      try {
        out.add(root.toRealPath());
      } catch (IOException e) {
        // a missing root holds nothing
      }
    }
    return out;
  }

  private static void closeQuietly(FileChannel ch) {
    try {
      ch.close();
    } catch (IOException e) {
      // nothing to do: the file was only read
    }
  }
}
