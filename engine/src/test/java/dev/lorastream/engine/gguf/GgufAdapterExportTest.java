package dev.lorastream.engine.gguf;

import static dev.lorastream.engine.gguf.GgufModelExportTest.assertAlignedAndContiguous;
import static dev.lorastream.engine.gguf.GgufModelExportTest.assertDims;
import static dev.lorastream.engine.gguf.GgufModelExportTest.assertPermuted;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.engine.io.ModelFormatException;
import dev.lorastream.engine.io.UnsupportedAdapterException;
import dev.lorastream.engine.tensor.DType;
import dev.lorastream.engine.testdata.AdapterGenerator;
import dev.lorastream.engine.testdata.GgufTestReader;
import dev.lorastream.engine.testdata.GgufTestReader.Value;
import dev.lorastream.engine.testdata.ModelGenerator.Arch;
import dev.lorastream.engine.testdata.SafetensorsTestReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** PEFT adapters of the tiny model exported as llama.cpp LoRA GGUF files and read back. */
class GgufAdapterExportTest {
  @TempDir Path tmp;

  static final List<String> GGUF_NAMES =
      List.of("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down");
  static final List<String> HF_NAMES =
      List.of(
          "self_attn.q_proj",
          "self_attn.k_proj",
          "self_attn.v_proj",
          "self_attn.o_proj",
          "mlp.gate_proj",
          "mlp.up_proj",
          "mlp.down_proj");

  @Test
  void exportsEveryAdapterOfAFolder() throws Exception {
    Path model =
        GgufModelExportTest.tinyModel(tmp.resolve("m"), DType.BF16, false, false, Arch.llama);
    Path adapters = tmp.resolve("adapters");
    AdapterGenerator.make(
        model, 2, AdapterGenerator.Options.defaults().withRanks(4, 8).withSeed(9), adapters);
    Path out = tmp.resolve("lora");
    List<GgufAdapterExport.Result> res = GgufAdapterExport.exportAll(model, adapters, out);
    assertEquals(
        List.of("adapter-0000", "adapter-0001"),
        res.stream().map(GgufAdapterExport.Result::id).toList());

    for (int a = 0; a < 2; a++) {
      int rank = a == 0 ? 4 : 8;
      Path file = out.resolve(AdapterGenerator.adapterName(a) + ".gguf");
      GgufTestReader r = new GgufTestReader(file);
      SafetensorsTestReader src =
          new SafetensorsTestReader(
              adapters
                  .resolve(AdapterGenerator.adapterName(a))
                  .resolve("adapter_model.safetensors"));
      assertEquals(0x46554747, r.magic);
      assertEquals(3, r.version);
      assertEquals(
          List.of(
              "general.architecture",
              "general.type",
              "general.name",
              "adapter.type",
              "adapter.lora.alpha",
              "general.alignment"),
          List.copyOf(r.kv.keySet()));
      assertEquals(new Value(8, "llama"), r.kv.get("general.architecture"));
      assertEquals(new Value(8, "adapter"), r.kv.get("general.type"));
      assertEquals(new Value(8, AdapterGenerator.adapterName(a)), r.kv.get("general.name"));
      assertEquals(new Value(8, "lora"), r.kv.get("adapter.type"));
      assertEquals(new Value(6, 2f * rank), r.kv.get("adapter.lora.alpha"), "alpha 2r, not rsLoRA");
      assertEquals(new Value(4, 32L), r.kv.get("general.alignment"));

      List<String> names = new ArrayList<>();
      for (int l = 0; l < 2; l++) {
        for (String n : GGUF_NAMES) {
          names.add("blk." + l + "." + n + ".weight.lora_a");
          names.add("blk." + l + "." + n + ".weight.lora_b");
        }
      }
      assertEquals(names, List.copyOf(r.tensors.keySet()));
      assertEquals(names.size(), res.get(a).tensors());
      assertAlignedAndContiguous(r, names);
      assertDims(r, "blk.0.attn_q.weight.lora_a", 0, 64, rank);
      assertDims(r, "blk.0.attn_q.weight.lora_b", 0, rank, 64);
      assertDims(r, "blk.1.attn_k.weight.lora_b", 0, rank, 32);
      assertDims(r, "blk.1.ffn_down.weight.lora_a", 0, 172, rank);
      assertDims(r, "blk.1.ffn_down.weight.lora_b", 0, rank, 64);
      assertDims(r, "blk.0.ffn_up.weight.lora_b", 0, rank, 172);

      for (int l = 0; l < 2; l++) {
        for (int i = 0; i < GGUF_NAMES.size(); i++) {
          String hf = "base_model.model.model.layers." + l + "." + HF_NAMES.get(i);
          String g = "blk." + l + "." + GGUF_NAMES.get(i) + ".weight";
          // BF16 factors widened to F32 exactly
          assertArrayEquals(src.floats(hf + ".lora_A.weight"), r.floats(g + ".lora_a"), g);
          float[] b = src.floats(hf + ".lora_B.weight");
          switch (GGUF_NAMES.get(i)) {
            case "attn_q" -> assertPermuted(b, r.floats(g + ".lora_b"), 4, 16, rank);
            case "attn_k" -> assertPermuted(b, r.floats(g + ".lora_b"), 2, 16, rank);
            default -> assertArrayEquals(b, r.floats(g + ".lora_b"), g);
          }
        }
      }
    }
  }

  @Test
  void rsLoraAlphaGivesTheSameScaleUnderAlphaOverR() throws Exception {
    Path model =
        GgufModelExportTest.tinyModel(tmp.resolve("m"), DType.F32, false, false, Arch.llama);
    Path adapters = tmp.resolve("adapters");
    AdapterGenerator.make(
        model,
        1,
        new AdapterGenerator.Options(new int[] {16}, List.of("q", "v"), 2, 6.0, null, true, 0.2),
        adapters);
    Path one = adapters.resolve("adapter-0000");
    Path out = tmp.resolve("lora");
    List<GgufAdapterExport.Result> res = GgufAdapterExport.exportAll(model, one, out);
    assertEquals(1, res.size());
    GgufTestReader r = new GgufTestReader(out.resolve("adapter-0000.gguf"));
    float alpha = (float) r.get("adapter.lora.alpha");
    assertEquals(24f, alpha, "6 * sqrt(16)");
    assertEquals(6.0 / Math.sqrt(16), alpha / 16.0, 1e-7, "llama.cpp's alpha / r = rsLoRA scale");
    assertEquals(
        List.of(
            "blk.0.attn_q.weight.lora_a",
            "blk.0.attn_q.weight.lora_b",
            "blk.0.attn_v.weight.lora_a",
            "blk.0.attn_v.weight.lora_b",
            "blk.1.attn_q.weight.lora_a",
            "blk.1.attn_q.weight.lora_b",
            "blk.1.attn_v.weight.lora_a",
            "blk.1.attn_v.weight.lora_b"),
        List.copyOf(r.tensors.keySet()));
    SafetensorsTestReader src = new SafetensorsTestReader(one.resolve("adapter_model.safetensors"));
    assertArrayEquals(
        src.bytes("base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight"),
        r.bytes("blk.1.attn_v.weight.lora_b"),
        "F32 factors copied bit for bit");
  }

  @Test
  void refusesAdaptersItCannotExport() throws Exception {
    Path model =
        GgufModelExportTest.tinyModel(tmp.resolve("m"), DType.F32, false, false, Arch.llama);
    Path out = tmp.resolve("lora");
    Path empty = Files.createDirectories(tmp.resolve("none"));
    ModelFormatException m =
        assertThrows(
            ModelFormatException.class, () -> GgufAdapterExport.exportAll(model, empty, out));
    assertTrue(m.getMessage().contains("holds no PEFT adapter"), m.getMessage());

    Path adapters = tmp.resolve("adapters");
    AdapterGenerator.make(
        model,
        1,
        new AdapterGenerator.Options(new int[] {4}, List.of("q"), 2, 0.0, null, false, 0.2),
        adapters);
    UnsupportedAdapterException u =
        assertThrows(
            UnsupportedAdapterException.class,
            () -> GgufAdapterExport.exportAll(model, adapters, out));
    assertTrue(u.getMessage().contains("lora_alpha 0.0 cannot be exported"), u.getMessage());
    assertFalse(Files.exists(out.resolve("adapter-0000.gguf")));

    Path qwen =
        GgufModelExportTest.tinyModel(tmp.resolve("qwen"), DType.F32, false, false, Arch.qwen2);
    assertThrows(
        dev.lorastream.engine.io.UnsupportedArchitectureException.class,
        () -> GgufAdapterExport.exportAll(qwen, adapters, out));
  }
}
