package dev.lorastream.consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.lorastream.engine.backends.Backends;
import dev.lorastream.engine.config.ModelConfig;
import dev.lorastream.engine.config.Proj;
import dev.lorastream.engine.lora.LoraAdapter;
import dev.lorastream.engine.model.LlamaModel;
import dev.lorastream.engine.model.LoadedModel;
import dev.lorastream.engine.model.ModelLoader;
import dev.lorastream.engine.ops.Ops;
import dev.lorastream.engine.sample.SamplingParams;
import dev.lorastream.engine.sched.Engine;
import dev.lorastream.engine.sched.EngineConfig;
import dev.lorastream.engine.sched.EngineError;
import dev.lorastream.engine.sched.GenerationRequest;
import dev.lorastream.engine.sched.GenerationResult;
import dev.lorastream.engine.testdata.AdapterGenerator;
import dev.lorastream.engine.testdata.ModelGenerator;
import dev.lorastream.engine.testdata.TestFiles;
import dev.lorastream.schemas.AdapterRecord;
import dev.lorastream.schemas.ErrorCode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Adapter sources are confined to the adapter roots by real path: links that lead out of the roots
 * and files that are not regular files are refused with ADAPTER_INVALID naming the path and why.
 */
class CatalogAdapterSourceTest {
  static final String ROOTS = " (" + ConsumerSettings.ADAPTER_ROOTS + ")";
  static final String READ_ONLY_INSIDE = "; files are read only from inside them";

  @TempDir static Path shared;
  static Path modelDir;
  static ModelConfig model;

  /** A generated adapter outside every root (adapter-0000, rank 8). */
  static Path outsideAdapter;

  @TempDir Path tmp;
  Path root;
  final Map<String, AdapterRecord> records = new HashMap<>();
  CatalogAdapterSource source;

  @BeforeAll
  static void model() throws Exception {
    modelDir = shared.toRealPath().resolve("m");
    ModelGenerator.make("tiny", ModelGenerator.Options.defaults(), modelDir);
    model = ModelConfig.load(modelDir);
    AdapterGenerator.make(
        modelDir,
        1,
        AdapterGenerator.Options.defaults().withRanks(8),
        shared.toRealPath().resolve("outside"));
    outsideAdapter =
        shared.toRealPath().resolve("outside").resolve(AdapterGenerator.adapterName(0));
  }

  @BeforeEach
  void setUp() throws Exception {
    root = Files.createDirectories(tmp.toRealPath().resolve("root"));
    source =
        new CatalogAdapterSource(
            (id, timeout) -> records.get(id),
            List.of(root),
            1L << 30,
            model,
            "tiny",
            64,
            new HttpAdapterFetcher(tmp.resolve("downloads"), 1L << 30, Duration.ofSeconds(5)));
  }

  /** Registers {@code dir} under {@code id}. */
  private void register(String id, Path dir) {
    records.put(
        id,
        AdapterRecord.newBuilder()
            .setAdapterId(id)
            .setOwnerTenant(null)
            .setSourceUri(dir.toUri().toString())
            .setSha256(null)
            .setRank(8)
            .setBaseModel("tiny")
            .setCreatedEpochMs(0L)
            .build());
  }

  /** A real copy of the outside adapter at {@code dir}. */
  private static Path copyOfAdapter(Path dir) throws Exception {
    Files.createDirectories(dir);
    for (String f : List.of("adapter_config.json", LoraAdapter.WEIGHTS_FILE)) {
      Files.copy(outsideAdapter.resolve(f), dir.resolve(f));
    }
    return dir;
  }

  private Exception refusal(String id) {
    return assertThrows(IllegalArgumentException.class, () -> source.load(id));
  }

  private Exception formatRefusal(String id) {
    return assertThrows(RuntimeException.class, () -> source.load(id));
  }

  @Test
  void aRealAdapterInsideTheRootLoads() throws Exception {
    register("a", copyOfAdapter(root.resolve("a")));
    assertEquals(8, source.load("a").rank());
  }

  @Test
  void aLinkedFolderLeadingOutOfTheRootsIsRefused() throws Exception {
    Path link = Files.createSymbolicLink(root.resolve("evil"), outsideAdapter);
    register("evil", link);
    assertEquals(
        "adapter 'evil': "
            + link
            + " resolves to "
            + outsideAdapter
            + " (through a symbolic link), which is outside the allowed roots ["
            + root
            + "]"
            + ROOTS
            + READ_ONLY_INSIDE,
        refusal("evil").getMessage());
  }

  @Test
  void aLinkedWeightsFileLeadingOutOfTheRootsIsRefused() throws Exception {
    Path dir = Files.createDirectories(root.resolve("evil"));
    Files.copy(outsideAdapter.resolve("adapter_config.json"), dir.resolve("adapter_config.json"));
    Path link =
        Files.createSymbolicLink(
            dir.resolve(LoraAdapter.WEIGHTS_FILE),
            outsideAdapter.resolve(LoraAdapter.WEIGHTS_FILE));
    register("evil", dir);
    assertEquals(
        "adapter 'evil': "
            + link
            + " resolves to "
            + outsideAdapter.resolve(LoraAdapter.WEIGHTS_FILE)
            + " (through a symbolic link), which is outside the allowed roots ["
            + root
            + "]"
            + ROOTS
            + READ_ONLY_INSIDE,
        refusal("evil").getMessage());
  }

  @Test
  void aLinkedConfigLeadingOutOfTheRootsIsRefused() throws Exception {
    Path dir = Files.createDirectories(root.resolve("evil"));
    Files.copy(
        outsideAdapter.resolve(LoraAdapter.WEIGHTS_FILE), dir.resolve(LoraAdapter.WEIGHTS_FILE));
    Path link =
        Files.createSymbolicLink(
            dir.resolve("adapter_config.json"), outsideAdapter.resolve("adapter_config.json"));
    register("evil", dir);
    assertEquals(
        link
            + " resolves to "
            + outsideAdapter.resolve("adapter_config.json")
            + " (through a symbolic link), which is outside the allowed roots ["
            + root
            + "]"
            + ROOTS
            + READ_ONLY_INSIDE,
        formatRefusal("evil").getMessage());
  }

  @Test
  void linksInsideTheRootToOtherPlacesInsideItAreFollowed() throws Exception {
    Path real = copyOfAdapter(root.resolve("store/a"));
    register("folder-link", Files.createSymbolicLink(root.resolve("alias"), real));
    Path dir = Files.createDirectories(root.resolve("files-linked"));
    for (String f : List.of("adapter_config.json", LoraAdapter.WEIGHTS_FILE)) {
      Files.createSymbolicLink(dir.resolve(f), real.resolve(f));
    }
    register("file-links", dir);
    assertEquals(8, source.load("folder-link").rank());
    assertEquals(8, source.load("file-links").rank());
  }

  @Test
  @Timeout(value = 10, threadMode = Timeout.ThreadMode.SEPARATE_THREAD) // a FIFO blocks a reader
  void aFifoInPlaceOfTheWeightsIsRefusedAsNotARegularFile() throws Exception {
    Path dir = Files.createDirectories(root.resolve("fifo"));
    Files.copy(outsideAdapter.resolve("adapter_config.json"), dir.resolve("adapter_config.json"));
    Path fifo = dir.resolve(LoraAdapter.WEIGHTS_FILE);
    assumeTrue(TestFiles.mkfifo(fifo), "mkfifo is not available");
    register("fifo", dir);
    assertEquals(
        "adapter 'fifo': "
            + fifo
            + " is a FIFO (named pipe), not a regular file; expected the adapter's PEFT weights"
            + " there",
        refusal("fifo").getMessage());
  }

  @Test
  void aDirectoryInPlaceOfTheWeightsIsRefusedAsNotARegularFile() throws Exception {
    Path dir = Files.createDirectories(root.resolve("dir"));
    Files.copy(outsideAdapter.resolve("adapter_config.json"), dir.resolve("adapter_config.json"));
    Path weights = Files.createDirectory(dir.resolve(LoraAdapter.WEIGHTS_FILE));
    register("dir", dir);
    assertEquals(
        "adapter 'dir': "
            + weights
            + " is a directory, not a regular file; expected the adapter's PEFT weights there",
        refusal("dir").getMessage());
  }

  @Test
  void aRecordForAnotherBaseModelIsRefusedNamingBoth() throws Exception {
    register("a", copyOfAdapter(root.resolve("a")));
    records.put("a", AdapterRecord.newBuilder(records.get("a")).setBaseModel("llama-70b").build());
    assertEquals(
        "adapter 'a' is registered for base model 'llama-70b' but this consumer serves 'tiny'"
            + " (lorastream.model.name); register it with baseModel 'tiny' only if it was trained"
            + " on that model",
        refusal("a").getMessage());
  }

  @Test
  void aRecordWhoseRankIsNotTheAdaptersIsRefused() throws Exception {
    register("a", copyOfAdapter(root.resolve("a")));
    records.put("a", AdapterRecord.newBuilder(records.get("a")).setRank(16).build());
    assertEquals(
        "adapter 'a' is registered with rank 16 but its adapter_config.json has r=8; register it"
            + " with rank 8",
        refusal("a").getMessage());
  }

  @Test
  void aWrongSha256IsStillRefused() throws Exception {
    Path dir = copyOfAdapter(root.resolve("a"));
    register("a", dir);
    records.put("a", AdapterRecord.newBuilder(records.get("a")).setSha256("00").build());
    String actual = CatalogAdapterSource.sha256(dir.resolve(LoraAdapter.WEIGHTS_FILE));
    assertEquals(
        "adapter 'a': sha256 of "
            + dir.resolve(LoraAdapter.WEIGHTS_FILE)
            + " is "
            + actual
            + " but the catalog says 00",
        refusal("a").getMessage());
  }

  @Test
  void anEscapingAdapterGetsAnAdapterInvalidReplyAndOthersAreServed() throws Exception {
    register("evil", Files.createSymbolicLink(root.resolve("evil"), outsideAdapter));
    register("good", copyOfAdapter(root.resolve("good")));
    Ops ops = Backends.create("cpu");
    try (LoadedModel lm = ModelLoader.load(modelDir, ops)) {
      LlamaModel m = new LlamaModel(lm.config(), lm.weights(), ops, LlamaModel.LoraKernel.SGMV);
      EngineConfig ec =
          EngineConfig.defaults()
              .withKvBlocks(64)
              .withLora(4, 16, EnumSet.allOf(Proj.class), LlamaModel.LoraKernel.SGMV);
      try (Engine e = new Engine(m, ec, source, null)) {
        CompletableFuture<GenerationResult> evil =
            e.submit(
                new GenerationRequest("e", new int[] {1, 2}, "evil", SamplingParams.greedy(3)));
        CompletableFuture<GenerationResult> good =
            e.submit(
                new GenerationRequest("g", new int[] {1, 2}, "good", SamplingParams.greedy(3)));
        e.runUntilIdle();
        GenerationResult r = evil.join();
        assertEquals(EngineError.ADAPTER_INVALID, r.errorCode());
        assertEquals(ErrorCode.ADAPTER_INVALID, Results.code(r.errorCode()));
        assertEquals(
            "adapter 'evil': "
                + root.resolve("evil")
                + " resolves to "
                + outsideAdapter
                + " (through a symbolic link), which is outside the allowed roots ["
                + root
                + "]"
                + ROOTS
                + READ_ONLY_INSIDE,
            r.errorMessage());
        assertTrue(good.join().ok(), String.valueOf(good.join().errorMessage()));
        assertEquals(3, good.join().tokens().length);
      }
    }
  }
}
