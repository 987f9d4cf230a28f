package dev.lorastream.engine.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.engine.tensor.DType;
import org.junit.jupiter.api.Test;

class ProjTest {

  /** Llama-3-8B shapes: hidden 4096, 32 heads, 8 kv heads of 128, intermediate 14336. */
  private static final ModelConfig LLAMA3_8B =
      new ModelConfig(
          "LlamaForCausalLM",
          128256,
          4096,
          14336,
          32,
          32,
          8,
          128,
          1e-5f,
          500000,
          null,
          8192,
          false,
          false,
          128000,
          new int[] {128001},
          DType.BF16);

  @Test
  void dimensionsFollowTheLlamaLayout() {
    assertEquals(4096, Proj.Q.inDim(LLAMA3_8B));
    assertEquals(4096, Proj.Q.outDim(LLAMA3_8B));
    assertEquals(1024, Proj.K.outDim(LLAMA3_8B));
    assertEquals(1024, Proj.V.outDim(LLAMA3_8B));
    assertEquals(4096, Proj.O.inDim(LLAMA3_8B));
    assertEquals(4096, Proj.O.outDim(LLAMA3_8B));
    assertEquals(14336, Proj.GATE.outDim(LLAMA3_8B));
    assertEquals(14336, Proj.UP.outDim(LLAMA3_8B));
    assertEquals(14336, Proj.DOWN.inDim(LLAMA3_8B));
    assertEquals(4096, Proj.DOWN.outDim(LLAMA3_8B));
  }

  @Test
  void namesMatchHuggingFace() {
    assertEquals("gate_proj", Proj.GATE.hfName());
    assertEquals("gate", Proj.GATE.shortName());
    assertEquals("mlp", Proj.GATE.parent());
    assertEquals("self_attn", Proj.O.parent());
    assertEquals("model.layers.3.self_attn.k_proj", Proj.K.moduleName(3));
  }

  @Test
  void parsesShortAndHfNames() {
    assertEquals(Proj.Q, Proj.parse("q"));
    assertEquals(Proj.Q, Proj.parse("q_proj"));
    assertEquals(Proj.DOWN, Proj.parse("DOWN_PROJ"));
    var e = assertThrows(IllegalArgumentException.class, () -> Proj.parse("qkv"));
    assertTrue(
        e.getMessage().contains("'qkv'") && e.getMessage().contains("o_proj"), e.getMessage());
  }
}
