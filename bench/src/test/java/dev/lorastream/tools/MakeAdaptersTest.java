package dev.lorastream.tools;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.lorastream.engine.testdata.AdapterGenerator;
import dev.lorastream.engine.testdata.SafetensorsTestReader;
import dev.lorastream.engine.testdata.SeededValues;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class MakeAdaptersTest {
  @TempDir Path tmp;

  static void make(String... args) {
    assertEquals(0, new CommandLine(new MakeAdapters()).execute(args));
  }

  @Test
  void writesPeftNamesShapesAndCyclesRanks() throws Exception {
    Path model = MakeModelTest.make(tmp.resolve("m"), "--preset", "tiny");
    Path out = tmp.resolve("ad");
    make(
        "--model",
        model.toString(),
        "--count",
        "4",
        "--ranks",
        "8,16,32",
        "--out",
        out.toString(),
        "--seed",
        "5");
    int[] ranks = {8, 16, 32, 8};
    for (int i = 0; i < 4; i++) {
      Path dir = out.resolve(AdapterGenerator.adapterName(i));
      JsonNode c = MakeModelTest.json(dir.resolve("adapter_config.json"));
      int r = ranks[i];
      assertEquals("LORA", c.get("peft_type").asText());
      assertEquals(r, c.get("r").asInt());
      assertEquals(2.0 * r, c.get("lora_alpha").asDouble());
      assertFalse(c.get("use_rslora").asBoolean());
      assertFalse(c.get("fan_in_fan_out").asBoolean());
      assertEquals("none", c.get("bias").asText());
      assertEquals("CAUSAL_LM", c.get("task_type").asText());
      List<String> targets = new ArrayList<>();
      c.get("target_modules").forEach(t -> targets.add(t.asText()));
      assertEquals(
          List.of("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
          targets);

      SafetensorsTestReader st =
          new SafetensorsTestReader(dir.resolve("adapter_model.safetensors"));
      assertEquals(2 * 7 * 2, st.tensors.size());
      String p = "base_model.model.model.layers.1.";
      assertArrayEquals(
          new int[] {r, 64}, st.tensors.get(p + "self_attn.q_proj.lora_A.weight").shape());
      assertArrayEquals(
          new int[] {64, r}, st.tensors.get(p + "self_attn.q_proj.lora_B.weight").shape());
      assertArrayEquals(
          new int[] {32, r}, st.tensors.get(p + "self_attn.k_proj.lora_B.weight").shape());
      assertArrayEquals(
          new int[] {r, 172}, st.tensors.get(p + "mlp.down_proj.lora_A.weight").shape());
      assertArrayEquals(
          new int[] {64, r}, st.tensors.get(p + "mlp.down_proj.lora_B.weight").shape());
      assertArrayEquals(
          new int[] {172, r}, st.tensors.get(p + "mlp.up_proj.lora_B.weight").shape());
      assertEquals("F32", st.tensors.get(p + "mlp.up_proj.lora_B.weight").dtype());
    }
  }

  @Test
  void deltaIsNonZeroAndAboutTheRequestedFractionOfW() throws Exception {
    Path model = MakeModelTest.make(tmp.resolve("m"), "--preset", "tiny");
    Path out = tmp.resolve("ad");
    make(
        "--model",
        model.toString(),
        "--ranks",
        "16",
        "--rslora",
        "--alpha",
        "8",
        "--out",
        out.toString());
    SafetensorsTestReader w = new SafetensorsTestReader(model.resolve("model.safetensors"));
    SafetensorsTestReader ad =
        new SafetensorsTestReader(out.resolve("adapter-0000").resolve("adapter_model.safetensors"));
    double scale = 8 / Math.sqrt(16);
    for (String[] t :
        new String[][] {{"self_attn.o_proj", "64", "64"}, {"mlp.gate_proj", "172", "64"}}) {
      int o = Integer.parseInt(t[1]), in = Integer.parseInt(t[2]), r = 16;
      float[] a =
          ad.floats("base_model.model.model.layers.0." + t[0] + ".lora_A.weight"); // [r, in]
      float[] b =
          ad.floats("base_model.model.model.layers.0." + t[0] + ".lora_B.weight"); // [out, r]
      double delta = 0;
      for (int i = 0; i < o; i++) {
        for (int j = 0; j < in; j++) {
          double s = 0;
          for (int k = 0; k < r; k++) {
            s += b[i * r + k] * a[k * in + j];
          }
          delta += s * s * scale * scale;
        }
      }
      double wNorm = 0;
      for (float x : w.floats("model.layers.0." + t[0] + ".weight")) {
        wNorm += x * x;
      }
      double ratio = Math.sqrt(delta / wNorm);
      assertTrue(ratio > 0.12 && ratio < 0.3, t[0] + " delta/W = " + ratio);
    }
  }

  @Test
  void anyAdapterRegeneratesAloneAndSubsetsOfTargetsWork() throws Exception {
    Path model = MakeModelTest.make(tmp.resolve("m"), "--preset", "tiny", "--dtype", "BF16");
    Path all = tmp.resolve("all"), one = tmp.resolve("one");
    make(
        "--model",
        model.toString(),
        "--count",
        "3",
        "--ranks",
        "4",
        "--targets",
        "q,v",
        "--out",
        all.toString(),
        "--seed",
        "9");
    AdapterGenerator.ModelDims dims = AdapterGenerator.ModelDims.read(model);
    AdapterGenerator.write(
        dims,
        new AdapterGenerator.AdapterSpec(4, 8, false, List.of("q", "v"), dims.dtype()),
        SeededValues.derive(9, 2),
        0.2,
        model,
        one);
    Path third = all.resolve("adapter-0002");
    assertArrayEquals(
        Files.readAllBytes(third.resolve("adapter_model.safetensors")),
        Files.readAllBytes(one.resolve("adapter_model.safetensors")));
    SafetensorsTestReader st =
        new SafetensorsTestReader(third.resolve("adapter_model.safetensors"));
    assertEquals(2 * 2 * 2, st.tensors.size());
    assertEquals(
        "BF16", st.tensors.values().iterator().next().dtype(), "defaults to the model's dtype");
    assertFalse(
        Arrays.equals(
            new SafetensorsTestReader(
                    all.resolve("adapter-0000").resolve("adapter_model.safetensors"))
                .floats("base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"),
            st.floats("base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight")));
  }
}
