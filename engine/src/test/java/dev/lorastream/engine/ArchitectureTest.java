package dev.lorastream.engine;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.tngtech.archunit.core.domain.Dependency;
import com.tngtech.archunit.core.domain.JavaClass;
import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.lang.ArchCondition;
import com.tngtech.archunit.lang.ConditionEvents;
import com.tngtech.archunit.lang.SimpleConditionEvent;
import com.tngtech.archunit.lang.syntax.ArchRuleDefinition;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The engine's architecture as rules over its compiled classes (ArchUnit): every package has a
 * level, and a class may depend only on its own package or on packages of a lower level (no upward
 * edge; the backends, one level, do not see each other: the control backend {@code ops.ref} shares
 * no code with those it checks); no package cycle; no Kafka, picocli or service code inside the
 * engine.
 */
class ArchitectureTest {
  private static final String ROOT = "dev.lorastream.engine";

  /**
   * Package (relative to {@link #ROOT}) → level; a class may use only its own package or a lower
   * level.
   */
  static final Map<String, Integer> LEVELS =
      Map.ofEntries(
          Map.entry("tensor", 0),
          Map.entry("io", 1),
          Map.entry("config", 2),
          Map.entry("ops", 3),
          Map.entry("ops.cpu", 4),
          Map.entry("ops.cuda", 4),
          Map.entry("ops.ref", 4),
          Map.entry("backends", 5),
          Map.entry("kv", 6),
          Map.entry("sample", 6),
          Map.entry("lora", 7), // its adapters live in the KV cache's pages
          Map.entry("model", 8),
          Map.entry("gguf", 8), // exports a model (config, io) and its adapters (lora) to GGUF
          Map.entry("sched", 9),
          Map.entry("testdata", 10));

  static JavaClasses engine;

  @BeforeAll
  static void importEngine() {
    engine =
        new ClassFileImporter()
            .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
            .importPackages(ROOT);
  }

  static String relativePackage(JavaClass c) {
    String p = c.getPackageName();
    return p.equals(ROOT) ? "" : p.substring(ROOT.length() + 1);
  }

  /** Every dependency on another engine package goes to a strictly lower level. */
  static final ArchCondition<JavaClass> ONLY_LOWER_LEVELS =
      new ArchCondition<>("depend only on their own package or lower levels") {
        @Override
        public void check(JavaClass c, ConditionEvents events) {
          String from = relativePackage(c);
          Integer fromLevel = LEVELS.get(from);
          for (Dependency d : c.getDirectDependenciesFromSelf()) {
            JavaClass target = d.getTargetClass().getBaseComponentType();
            if (!target.getPackageName().startsWith(ROOT + ".")) {
              continue;
            }
            String to = relativePackage(target);
            if (to.equals(from)) {
              continue;
            }
            Integer toLevel = LEVELS.get(to);
            if (fromLevel == null || toLevel == null || toLevel >= fromLevel) {
              events.add(
                  SimpleConditionEvent.violated(
                      d,
                      from
                          + " (level "
                          + fromLevel
                          + ") -> "
                          + to
                          + " (level "
                          + toLevel
                          + "): "
                          + d.getDescription()));
            }
          }
        }
      };

  @Test
  void everyEnginePackageHasALevel() {
    List<String> packages =
        engine.stream().map(ArchitectureTest::relativePackage).distinct().sorted().toList();
    assertFalse(packages.isEmpty(), "no engine classes imported");
    for (String p : packages) {
      assertTrue(
          LEVELS.containsKey(p), "package dev.lorastream.engine." + p + " has no level in LEVELS");
    }
    assertEquals(
        LEVELS.keySet().stream().sorted().toList(),
        packages,
        "LEVELS names a package that is gone");
  }

  @Test
  void noPackageDependsOnAHigherOrSiblingLevel() {
    ArchRuleDefinition.classes().should(ONLY_LOWER_LEVELS).check(engine);
  }

  @Test
  void noPackageCycles() {
    slices().matching(ROOT + ".(**)").should().beFreeOfCycles().check(engine);
  }

  @Test
  void noKafkaPicocliOrServiceCodeInTheEngine() {
    noClasses()
        .should()
        .dependOnClassesThat()
        .resideInAnyPackage(
            "org.apache.kafka..",
            "picocli..",
            "dev.lorastream.schemas..",
            "dev.lorastream.consumer..",
            "dev.lorastream.bench..",
            "dev.lorastream.tools..",
            "ai.djl..",
            "io.micrometer..")
        .check(engine);
  }

  /**
   * The rule can fail: a class outside every level that uses {@code sched} is reported, naming the
   * edge.
   */
  @Test
  void theLevelRuleReportsAnEdgeItDoesNotAllow() {
    JavaClasses probe = new ClassFileImporter().importClasses(UpwardProbe.class);
    AssertionError e =
        assertThrows(
            AssertionError.class,
            () -> ArchRuleDefinition.classes().should(ONLY_LOWER_LEVELS).check(probe));
    assertTrue(e.getMessage().contains(" (level null) -> sched (level 9)"), e.getMessage());
  }

  /**
   * A test-only class in the engine's root package (which has no level) holding a {@code sched}
   * type.
   */
  static final class UpwardProbe {
    dev.lorastream.engine.sched.FinishReason reason;
  }
}
