package dev.lorastream.consumer;

import dev.lorastream.engine.io.FileConfinement;
import dev.lorastream.engine.io.ModelFormatException;
import dev.lorastream.schemas.JitAdapterName;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.List;
import java.util.NoSuchElementException;

/**
 * Finds the folder of a just-in-time adapter {@code TENANT/NAME} ({@link JitAdapterName}): {@code
 * <root>/<TENANT>/<NAME>} in the first adapter root that has it. The name is parsed by the shared
 * rule, so {@code ..} and nested paths never reach the file system; the tenant's folder must lie
 * inside its root once links are resolved, and the adapter's folder and files inside the tenant's
 * folder, so a link cannot lead to another tenant's adapters or out of the roots.
 */
final class JitAdapterResolver {

  /**
   * Where a just-in-time adapter lies.
   *
   * @param dir the adapter's folder
   * @param files its files are read through this: confined to {@code <root>/<TENANT>}
   */
  record Located(Path dir, FileConfinement files) {}

  private final List<Path> roots;
  private final FileConfinement rootFiles;

  /**
   * @param roots the adapter roots ({@code lorastream.adapters.roots})
   * @param rootFiles confinement to those roots
   */
  JitAdapterResolver(List<Path> roots, FileConfinement rootFiles) {
    this.roots = List.copyOf(roots);
    this.rootFiles = rootFiles;
  }

  /**
   * The folder of {@code adapterId}.
   *
   * @throws NoSuchElementException when the name is not a legal {@code TENANT/NAME} or no root has
   *     that folder (the request gets UNKNOWN_ADAPTER)
   * @throws IllegalArgumentException when the folder leads out of the tenant's folder
   */
  Located resolve(String adapterId) {
    JitAdapterName name;
    try {
      name = JitAdapterName.parse(adapterId);
    } catch (IllegalArgumentException e) {
      throw new NoSuchElementException(e.getMessage());
    }
    for (Path root : roots) {
      Path tenantDir = root.resolve(name.tenant());
      Path dir = tenantDir.resolve(name.name());
      if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
        continue;
      }
      try {
        rootFiles.realPath(tenantDir, "expected the tenant's adapter folder there");
        FileConfinement tenantFiles =
            FileConfinement.within(List.of(tenantDir), ConsumerSettings.ADAPTER_ROOTS);
        tenantFiles.realPath(dir, "expected the adapter's folder there");
        return new Located(dir, tenantFiles);
      } catch (ModelFormatException e) {
        throw new IllegalArgumentException("adapter '" + adapterId + "': " + e.getMessage(), e);
      }
    }
    throw new NoSuchElementException(
        "just-in-time adapter '"
            + adapterId
            + "' not found: no folder "
            + name
            + " under the adapter roots ("
            + ConsumerSettings.ADAPTER_ROOTS
            + ")");
  }
}
