package dev.lorastream.consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

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
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.EnumSet;
import java.util.List;
import java.util.NoSuchElementException;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Just-in-time adapters {@code TENANT/NAME}: loaded from {@code <root>/<TENANT>/<NAME>} of the
 * first root that has it, never from outside the tenant's folder, UNKNOWN_ADAPTER when missing.
 */
class JitAdapterSourceTest {

  @TempDir static Path shared;
  static Path modelDir;
  static ModelConfig model;

  /** A generated adapter outside every root (rank 8, base_model_name_or_path ending in "m"). */
  static Path outsideAdapter;

  @TempDir Path tmp;
  Path first;
  Path second;
  CatalogAdapterSource source;

  @BeforeAll
  static void model() throws Exception {
    modelDir = shared.toRealPath().resolve("m");
    ModelGenerator.make("tiny", ModelGenerator.Options.defaults(), modelDir);
    model = ModelConfig.load(modelDir);
    Path out = shared.toRealPath().resolve("outside");
    AdapterGenerator.make(modelDir, 1, AdapterGenerator.Options.defaults().withRanks(8), out);
    outsideAdapter = out.resolve(AdapterGenerator.adapterName(0));
  }

  @BeforeEach
  void setUp() throws Exception {
    first = Files.createDirectories(tmp.toRealPath().resolve("first"));
    second = Files.createDirectories(tmp.toRealPath().resolve("second"));
    source = source("m");
  }

  private CatalogAdapterSource source(String modelName) {
    return new CatalogAdapterSource(
        (id, timeout) -> {
          throw new AssertionError("a just-in-time name is not looked up in the catalog: " + id);
        },
        List.of(first, second),
        1L << 30,
        model,
        modelName,
        64,
        new HttpAdapterFetcher(tmp.resolve("downloads"), 1L << 30, Duration.ofSeconds(5)));
  }

  private static Path copyOfAdapter(Path dir) throws Exception {
    Files.createDirectories(dir);
    for (String f : List.of("adapter_config.json", LoraAdapter.WEIGHTS_FILE)) {
      Files.copy(outsideAdapter.resolve(f), dir.resolve(f));
    }
    return dir;
  }

  @Test
  void theTenantsFolderInTheFirstRootThatHasItIsLoaded() throws Exception {
    copyOfAdapter(second.resolve("acme/sql"));
    LoraAdapter a = source.load("acme/sql");
    assertEquals(8, a.rank());
  }

  @Test
  void aMissingFolderIsAnUnknownAdapter() {
    assertEquals(
        "just-in-time adapter 'acme/nope' not found: no folder acme/nope under the adapter roots"
            + " (lorastream.adapters.roots)",
        assertThrows(NoSuchElementException.class, () -> source.load("acme/nope")).getMessage());
  }

  @Test
  void dotDotNeverReachesTheFileSystem() throws Exception {
    copyOfAdapter(first.resolve("beta/x"));
    assertEquals(
        "adapter 'acme/..': NAME '..' is not a legal adapter folder name: 1 to 128 characters of"
            + " A-Z a-z 0-9 . _ -, and not '.' or '..'",
        assertThrows(NoSuchElementException.class, () -> source.load("acme/..")).getMessage());
    assertThrows(NoSuchElementException.class, () -> source.load("acme/../beta/x"));
  }

  @Test
  void aLinkToAnotherTenantsAdapterIsRefused() throws Exception {
    Path theirs = copyOfAdapter(first.resolve("beta/x"));
    Path link =
        Files.createSymbolicLink(
            Files.createDirectories(first.resolve("acme")).resolve("stolen"), theirs);
    assertEquals(
        "adapter 'acme/stolen': "
            + link
            + " resolves to "
            + theirs
            + " (through a symbolic link), which is outside the allowed roots ["
            + first.resolve("acme")
            + "] (lorastream.adapters.roots); files are read only from inside them",
        assertThrows(IllegalArgumentException.class, () -> source.load("acme/stolen"))
            .getMessage());
  }

  @Test
  void aTenantFolderLinkedOutOfTheRootsIsRefused() throws Exception {
    Path out = Files.createDirectories(tmp.toRealPath().resolve("elsewhere"));
    copyOfAdapter(out.resolve("x"));
    Path link = Files.createSymbolicLink(first.resolve("acme"), out);
    assertEquals(
        "adapter 'acme/x': "
            + link
            + " resolves to "
            + out
            + " (through a symbolic link), which is outside the allowed roots ["
            + first
            + ", "
            + second
            + "] (lorastream.adapters.roots); files are read only from inside them",
        assertThrows(IllegalArgumentException.class, () -> source.load("acme/x")).getMessage());
  }

  @Test
  void anAdapterTrainedOnAnotherModelIsRefusedByTheLastSegmentOfItsBaseModel() throws Exception {
    copyOfAdapter(first.resolve("acme/sql"));
    assertEquals(
        "adapter 'acme/sql' was trained on '"
            + modelDir
            + "' (base_model_name_or_path in adapter_config.json) but this consumer serves"
            + " 'llama' (lorastream.model.name); only the last path segment, 'm', is compared",
        assertThrows(IllegalArgumentException.class, () -> source("llama").load("acme/sql"))
            .getMessage());
  }

  @Test
  void theEngineAnswersAMissingJitAdapterWithUnknownAdapter() throws Exception {
    copyOfAdapter(first.resolve("acme/sql"));
    Ops ops = Backends.create("cpu");
    try (LoadedModel lm = ModelLoader.load(modelDir, ops)) {
      LlamaModel m = new LlamaModel(lm.config(), lm.weights(), ops, LlamaModel.LoraKernel.SGMV);
      EngineConfig ec =
          EngineConfig.defaults()
              .withKvBlocks(64)
              .withLora(4, 16, EnumSet.allOf(Proj.class), LlamaModel.LoraKernel.SGMV);
      try (Engine e = new Engine(m, ec, source, null)) {
        var missing =
            e.submit(
                new GenerationRequest(
                    "n", new int[] {1, 2}, "acme/nope", SamplingParams.greedy(3)));
        var found =
            e.submit(
                new GenerationRequest("f", new int[] {1, 2}, "acme/sql", SamplingParams.greedy(3)));
        e.runUntilIdle();
        GenerationResult r = missing.join();
        assertEquals(EngineError.UNKNOWN_ADAPTER, r.errorCode());
        assertEquals(3, found.join().tokens().length, String.valueOf(found.join().errorMessage()));
      }
    }
  }
}
