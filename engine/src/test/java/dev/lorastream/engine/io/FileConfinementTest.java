package dev.lorastream.engine.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.lorastream.engine.testdata.TestFiles;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

class FileConfinementTest {
  @TempDir Path tmp;
  Path root;
  Path outside;
  FileConfinement files;

  @BeforeEach
  void setUp() throws Exception {
    tmp = tmp.toRealPath(); // so that only the links a test makes are links
    root = Files.createDirectories(tmp.resolve("root"));
    outside = Files.createDirectories(tmp.resolve("outside"));
    Files.writeString(outside.resolve("secret"), "secret");
    Files.writeString(root.resolve("inside"), "inside");
    files = FileConfinement.within(List.of(root), "test.roots");
  }

  private static byte[] read(FileChannel ch) throws Exception {
    try (ch) {
      ByteBuffer b = ByteBuffer.allocate((int) ch.size());
      while (b.hasRemaining() && ch.read(b) > 0) {}
      return b.array();
    }
  }

  @Test
  void aRegularFileInsideARootIsOpened() throws Exception {
    assertArrayEquals(
        "inside".getBytes(), read(files.open(root.resolve("inside"), "expected a file")));
  }

  @Test
  void aLinkInsideARootToAFileInsideItIsOpened() throws Exception {
    Path sub = Files.createDirectories(root.resolve("a/b"));
    Path link = Files.createSymbolicLink(sub.resolve("link"), root.resolve("inside"));
    assertArrayEquals("inside".getBytes(), read(files.open(link, "expected a file")));
  }

  @Test
  void aLinkToAFileOutsideTheRootsIsRefusedNamingBothPaths() throws Exception {
    Path link = Files.createSymbolicLink(root.resolve("link"), outside.resolve("secret"));
    var e = assertThrows(ModelFormatException.class, () -> files.open(link, "expected a file"));
    assertEquals(
        link
            + " resolves to "
            + outside.resolve("secret")
            + " (through a symbolic link), which is outside the allowed roots ["
            + root
            + "] (test.roots); files are read only from inside them",
        e.getMessage());
  }

  @Test
  void aFileUnderALinkedFolderOutsideTheRootsIsRefused() throws Exception {
    Path linkedDir = Files.createSymbolicLink(root.resolve("dir"), outside);
    Path file = linkedDir.resolve("secret");
    var e = assertThrows(ModelFormatException.class, () -> files.open(file, "expected a file"));
    assertEquals(
        file
            + " resolves to "
            + outside.resolve("secret")
            + " (through a symbolic link), which is outside the allowed roots ["
            + root
            + "] (test.roots); files are read only from inside them",
        e.getMessage());
  }

  @Test
  void aRootThatIsItselfALinkConfinesToWhereItLeads() throws Exception {
    Path linkedRoot = Files.createSymbolicLink(tmp.resolve("linked-root"), root);
    FileConfinement c = FileConfinement.within(List.of(linkedRoot), "test.roots");
    assertArrayEquals(
        "inside".getBytes(), read(c.open(linkedRoot.resolve("inside"), "expected a file")));
    assertThrows(
        ModelFormatException.class, () -> c.open(outside.resolve("secret"), "expected a file"));
  }

  @Test
  void aDirectoryIsRefusedAsNotARegularFile() throws Exception {
    Path dir = Files.createDirectories(root.resolve("weights.safetensors"));
    var e = assertThrows(ModelFormatException.class, () -> files.open(dir, "expected weights"));
    assertEquals(dir + " is a directory, not a regular file; expected weights", e.getMessage());
  }

  @Test
  @Timeout(value = 10, threadMode = Timeout.ThreadMode.SEPARATE_THREAD) // a FIFO blocks a reader
  void aFifoIsRefusedAsNotARegularFileWithoutBlocking() throws Exception {
    Path fifo = root.resolve("fifo");
    assumeTrue(TestFiles.mkfifo(fifo), "mkfifo is not available");
    var e =
        assertThrows(
            ModelFormatException.class, () -> FileConfinement.NONE.open(fifo, "expected weights"));
    assertEquals(
        fifo + " is a FIFO (named pipe), not a regular file; expected weights", e.getMessage());
  }

  @Test
  void aMissingFileIsNotFound() {
    Path missing = root.resolve("missing");
    var e = assertThrows(ModelFormatException.class, () -> files.open(missing, "expected x"));
    assertEquals(missing + " not found: expected x", e.getMessage());
  }

  @Test
  void aFileOutsideTheRootsIsRefusedWithoutALink() {
    Path secret = outside.resolve("secret");
    var e = assertThrows(ModelFormatException.class, () -> files.open(secret, "expected x"));
    assertEquals(
        secret
            + " is outside the allowed roots ["
            + root
            + "] (test.roots); files are read only from inside them",
        e.getMessage());
  }
}
