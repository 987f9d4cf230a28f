package dev.lorastream.engine.io;

import com.fasterxml.jackson.databind.JsonNode;
import dev.lorastream.engine.tensor.HostTensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Stream;

/**
 * The tensors of one model or adapter: a single safetensors file, or the shards named by a Hugging
 * Face {@code model.safetensors.index.json}.
 *
 * <p>Owns one shared {@link Arena} holding every mapping; tensors returned by {@link #find} and
 * {@link #require} are views that become invalid on {@link #close}. Safe for concurrent reads.
 */
public final class TensorStore implements AutoCloseable {

  public static final String SINGLE_FILE = "model.safetensors";
  public static final String INDEX_FILE = "model.safetensors.index.json";

  private final Path source; // the directory or file this store was opened from
  private final Arena arena; // null: the bytes are on the heap
  private final Map<String, SafetensorsFile> fileOf; // tensor name -> file holding it
  private volatile boolean closed;

  private TensorStore(Path source, Arena arena, Map<String, SafetensorsFile> fileOf) {
    this.source = source;
    this.arena = arena;
    this.fileOf = Collections.unmodifiableMap(fileOf);
  }

  /**
   * Opens a Hugging Face model directory: {@code model.safetensors} if present (as transformers
   * prefers it), else the shards listed in {@code model.safetensors.index.json}.
   *
   * @throws ModelFormatException when the directory or its weight files are missing or malformed
   */
  public static TensorStore openModel(Path dir) {
    if (!Files.isDirectory(dir)) {
      throw new ModelFormatException(
          "model directory "
              + dir
              + " does not exist or is not a directory; expected a Hugging Face model"
              + " directory with config.json and "
              + SINGLE_FILE
              + " or "
              + INDEX_FILE);
    }
    Path single = dir.resolve(SINGLE_FILE);
    if (Files.isRegularFile(single)) {
      return openFile(single);
    }
    Path index = dir.resolve(INDEX_FILE);
    if (Files.isRegularFile(index)) {
      return openSharded(dir, index);
    }
    throw new ModelFormatException(
        "no weights in "
            + dir
            + ": expected "
            + SINGLE_FILE
            + " or "
            + INDEX_FILE
            + " (plus its shards)"
            + describeOtherWeights(dir));
  }

  /** Opens one safetensors file (e.g. {@code adapter_model.safetensors}). */
  public static TensorStore openFile(Path file) {
    return openFile(file, FileConfinement.NONE);
  }

  /**
   * Opens one safetensors file through {@code files}: it must be a regular file and, when {@code
   * files} has roots, lie inside them once links are resolved.
   */
  public static TensorStore openFile(Path file, FileConfinement files) {
    Arena arena = Arena.ofShared();
    try {
      return single(file, arena, SafetensorsFile.open(file, arena, files));
    } catch (RuntimeException e) {
      arena.close();
      throw e;
    }
  }

  /**
   * Reads one safetensors file into the heap through {@code files} (same checks as {@link
   * #openFile(Path, FileConfinement)}): for small files read once and decoded at once, such as an
   * adapter's weights, where mapping and unmapping the file (and closing a shared arena, which
   * stops every thread for a moment) cost more than reading it.
   */
  public static TensorStore readFile(Path file, FileConfinement files) {
    return single(file, null, SafetensorsFile.parse(file, read(file, files)));
  }

  /** A store of the one file {@code f}, whose bytes {@code arena} (null: the heap) holds. */
  private static TensorStore single(Path file, Arena arena, SafetensorsFile f) {
    Map<String, SafetensorsFile> fileOf = new LinkedHashMap<>();
    for (String name : f.names()) {
      fileOf.put(name, f);
    }
    return new TensorStore(file, arena, fileOf);
  }

  private static java.lang.foreign.MemorySegment read(Path file, FileConfinement files) {
    try (java.nio.channels.FileChannel ch =
        files.open(file, "expected a safetensors file at that path")) {
      long size = ch.size();
      if (size > Integer.MAX_VALUE - 8) {
        throw new ModelFormatException(
            file + " holds " + size + " bytes: too large to read into memory; map it instead");
      }
      java.nio.ByteBuffer buf = java.nio.ByteBuffer.allocate((int) size);
      while (buf.hasRemaining()) {
        if (ch.read(buf) < 0) {
          throw new ModelFormatException(
              file + " ended after " + buf.position() + " of " + size + " bytes while read");
        }
      }
      return java.lang.foreign.MemorySegment.ofArray(buf.array());
    } catch (IOException e) {
      throw new ModelFormatException("cannot read " + file + ": " + e, e);
    }
  }

  private static TensorStore openSharded(Path dir, Path index) {
    JsonNode root = JsonFiles.readObject(index, "expected a safetensors shard index");
    JsonNode map = root.get("weight_map");
    if (map == null || !map.isObject() || map.isEmpty()) {
      throw new ModelFormatException(
          index + ": 'weight_map' must be a non-empty object {tensor: shard file}");
    }
    Arena arena = Arena.ofShared();
    try {
      Map<String, SafetensorsFile> shards = new LinkedHashMap<>();
      Map<String, SafetensorsFile> fileOf = new LinkedHashMap<>();
      for (var e : map.properties()) {
        String tensor = e.getKey();
        String shardName = e.getValue().isTextual() ? e.getValue().textValue() : null;
        if (shardName == null || shardName.contains("/") || shardName.contains("\\")) {
          throw new ModelFormatException(
              index
                  + ": tensor '"
                  + tensor
                  + "' maps to "
                  + e.getValue()
                  + "; expected a shard file name in the same directory");
        }
        SafetensorsFile shard = shards.get(shardName);
        if (shard == null) {
          Path shardPath = dir.resolve(shardName);
          if (!Files.isRegularFile(shardPath)) {
            throw new ModelFormatException(
                index
                    + " lists tensor '"
                    + tensor
                    + "' in "
                    + shardName
                    + " but "
                    + shardPath
                    + " does not exist; the download is incomplete");
          }
          shard = SafetensorsFile.open(shardPath, arena);
          shards.put(shardName, shard);
        }
        if (!shard.contains(tensor)) {
          throw new MissingTensorException(
              index
                  + " lists tensor '"
                  + tensor
                  + "' in "
                  + shard.path()
                  + " but that file does not hold it");
        }
        fileOf.put(tensor, shard);
      }
      return new TensorStore(dir, arena, fileOf);
    } catch (RuntimeException e) {
      arena.close();
      throw e;
    }
  }

  private static String describeOtherWeights(Path dir) {
    try (Stream<Path> s = Files.list(dir)) {
      List<String> found =
          s.map(p -> p.getFileName().toString())
              .filter(
                  n ->
                      n.endsWith(".safetensors")
                          || n.endsWith(".bin")
                          || n.endsWith(".pt")
                          || n.endsWith(".gguf"))
              .sorted()
              .limit(5)
              .toList();
      if (found.isEmpty()) {
        return "; the directory holds no weight files";
      }
      return "; found only "
          + found
          + " (convert PyTorch .bin/.pt checkpoints to safetensors, or add the"
          + " shard index)";
    } catch (IOException e) {
      return "";
    }
  }

  /** The directory or file this store was opened from. */
  public Path source() {
    return source;
  }

  public Set<String> names() {
    return fileOf.keySet();
  }

  public Optional<HostTensor> find(String name) {
    SafetensorsFile f = fileOf.get(name);
    checkOpen();
    return f == null ? Optional.empty() : Optional.of(f.get(name));
  }

  /**
   * The file holding {@code name}, or the store's source when it is absent (for error messages).
   */
  public Path fileOf(String name) {
    SafetensorsFile f = fileOf.get(name);
    return f == null ? source : f.path();
  }

  /**
   * The named tensor, of any dtype, checked to have exactly {@code expectedShape}.
   *
   * @throws MissingTensorException naming the store and the tensor when it is absent
   * @throws TensorShapeException naming the file, the tensor, the expected and the actual shape
   */
  public HostTensor require(String name, int... expectedShape) {
    HostTensor t =
        find(name)
            .orElseThrow(
                () ->
                    new MissingTensorException(
                        source
                            + " has no tensor '"
                            + name
                            + "' (expected shape "
                            + Arrays.toString(expectedShape)
                            + "); the checkpoint does not match the config"));
    if (!Arrays.equals(t.shape(), expectedShape)) {
      throw new TensorShapeException(
          fileOf(name)
              + ": tensor '"
              + name
              + "' has shape "
              + Arrays.toString(t.shape())
              + " but "
              + Arrays.toString(expectedShape)
              + " was expected; the checkpoint does not match the config");
    }
    return t;
  }

  private void checkOpen() {
    if (closed) {
      throw new IllegalStateException("tensor store for " + source + " is closed");
    }
  }

  /** Unmaps every file; tensors obtained earlier must not be used afterwards. Idempotent. */
  @Override
  public synchronized void close() {
    if (!closed) {
      closed = true;
      if (arena != null) {
        arena.close();
      }
    }
  }
}
