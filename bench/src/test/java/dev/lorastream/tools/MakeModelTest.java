package dev.lorastream.tools;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lorastream.engine.testdata.ModelGenerator;
import dev.lorastream.engine.testdata.SafetensorsTestReader;
import dev.lorastream.engine.testdata.TokenizerJson;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class MakeModelTest {
  @TempDir Path tmp;

  static Path make(Path dir, String... args) {
    String[] all = new String[args.length + 2];
    all[0] = "--out";
    all[1] = dir.toString();
    System.arraycopy(args, 0, all, 2, args.length);
    assertEquals(0, new CommandLine(new MakeModel()).execute(all));
    return dir;
  }

  static JsonNode json(Path file) throws Exception {
    return new ObjectMapper().readTree(file.toFile());
  }

  @Test
  void tinyWritesHfConfigWeightsAndTokenizer() throws Exception {
    Path m = make(tmp.resolve("tiny"), "--preset", "tiny");
    JsonNode c = json(m.resolve("config.json"));
    assertEquals("LlamaForCausalLM", c.get("architectures").get(0).asText());
    assertEquals("llama", c.get("model_type").asText());
    assertEquals(64, c.get("hidden_size").asInt());
    assertEquals(172, c.get("intermediate_size").asInt());
    assertEquals(2, c.get("num_hidden_layers").asInt());
    assertEquals(4, c.get("num_attention_heads").asInt());
    assertEquals(2, c.get("num_key_value_heads").asInt());
    assertEquals(16, c.get("head_dim").asInt());
    assertEquals(512, c.get("max_position_embeddings").asInt());
    assertEquals("float32", c.get("torch_dtype").asText());
    assertEquals(512, c.get("vocab_size").asInt());
    assertEquals(
        TokenizerJson.vocabSize(TokenizerJson.DEFAULT_MERGES), c.get("vocab_size").asInt());
    assertFalse(c.get("tie_word_embeddings").asBoolean());
    assertTrue(Files.exists(m.resolve("tokenizer.json")));

    SafetensorsTestReader r = new SafetensorsTestReader(m.resolve("model.safetensors"));
    Map<String, int[]> want = new HashMap<>();
    want.put("model.embed_tokens.weight", new int[] {512, 64});
    want.put("model.norm.weight", new int[] {64});
    want.put("lm_head.weight", new int[] {512, 64});
    for (int l = 0; l < 2; l++) {
      String p = "model.layers." + l + ".";
      want.put(p + "input_layernorm.weight", new int[] {64});
      want.put(p + "post_attention_layernorm.weight", new int[] {64});
      want.put(p + "self_attn.q_proj.weight", new int[] {64, 64});
      want.put(p + "self_attn.k_proj.weight", new int[] {32, 64});
      want.put(p + "self_attn.v_proj.weight", new int[] {32, 64});
      want.put(p + "self_attn.o_proj.weight", new int[] {64, 64});
      want.put(p + "mlp.gate_proj.weight", new int[] {172, 64});
      want.put(p + "mlp.up_proj.weight", new int[] {172, 64});
      want.put(p + "mlp.down_proj.weight", new int[] {64, 172});
    }
    assertEquals(new TreeSet<>(want.keySet()), new TreeSet<>(r.tensors.keySet()));
    want.forEach(
        (name, shape) -> {
          assertArrayEquals(shape, r.tensors.get(name).shape(), name);
          assertEquals("F32", r.tensors.get(name).dtype(), name);
        });
    // init: projections ~ N(0, 1/in), norms ~ 1
    assertEquals(1 / Math.sqrt(64), std(r.floats("model.layers.0.self_attn.q_proj.weight")), 0.01);
    assertEquals(1.0, mean(r.floats("model.layers.1.input_layernorm.weight")), 0.03);
  }

  @Test
  void sameSeedSameBytesOtherSeedOtherBytes() throws Exception {
    Path a = make(tmp.resolve("a"), "--seed", "7");
    Path b = make(tmp.resolve("b"), "--seed", "7");
    Path c = make(tmp.resolve("c"), "--seed", "8");
    for (String f : new String[] {"config.json", "model.safetensors", "tokenizer.json"}) {
      assertArrayEquals(Files.readAllBytes(a.resolve(f)), Files.readAllBytes(b.resolve(f)), f);
    }
    assertFalse(
        Arrays.equals(
            Files.readAllBytes(a.resolve("model.safetensors")),
            Files.readAllBytes(c.resolve("model.safetensors"))));
  }

  @Test
  void shardedLayoutHoldsTheSameTensors() throws Exception {
    Path one = make(tmp.resolve("one"), "--seed", "3", "--dtype", "BF16");
    Path three = make(tmp.resolve("three"), "--seed", "3", "--dtype", "BF16", "--shards", "3");
    assertFalse(Files.exists(three.resolve("model.safetensors")));
    JsonNode index = json(three.resolve("model.safetensors.index.json"));
    SafetensorsTestReader single = new SafetensorsTestReader(one.resolve("model.safetensors"));
    long total = 0;
    for (int k = 1; k <= 3; k++) {
      String file = String.format("model-%05d-of-00003.safetensors", k);
      SafetensorsTestReader shard = new SafetensorsTestReader(three.resolve(file));
      assertFalse(shard.tensors.isEmpty(), file);
      for (var e : shard.tensors.entrySet()) {
        assertEquals(file, index.get("weight_map").get(e.getKey()).asText());
        assertEquals("BF16", e.getValue().dtype());
        assertArrayEquals(single.floats(e.getKey()), shard.floats(e.getKey()), e.getKey());
        total += e.getValue().end() - e.getValue().begin();
      }
    }
    assertEquals(single.tensors.size(), index.get("weight_map").size());
    assertEquals(total, index.get("metadata").get("total_size").asLong());
  }

  @Test
  void qwen2HasBiasesAndTiedModelsHaveNoLmHead() throws Exception {
    Path q =
        make(tmp.resolve("q"), "--arch", "qwen2", "--tie-embeddings", "--rope-scaling", "llama3");
    JsonNode c = json(q.resolve("config.json"));
    assertEquals("Qwen2ForCausalLM", c.get("architectures").get(0).asText());
    assertTrue(c.get("tie_word_embeddings").asBoolean());
    assertEquals("llama3", c.get("rope_scaling").get("rope_type").asText());
    SafetensorsTestReader r = new SafetensorsTestReader(q.resolve("model.safetensors"));
    assertFalse(r.tensors.containsKey("lm_head.weight"));
    assertArrayEquals(
        new int[] {32}, r.tensors.get("model.layers.1.self_attn.k_proj.bias").shape());
    assertArrayEquals(
        new int[] {64}, r.tensors.get("model.layers.0.self_attn.q_proj.bias").shape());
  }

  @Test
  void largePresetsHaveTheAdvertisedShapes() {
    ModelGenerator.Spec bench = ModelGenerator.preset("cpu-bench");
    long params = ModelGenerator.tensors(bench, 0).stream().mapToLong(e -> e.numel()).sum();
    assertEquals(32000, bench.vocab());
    assertEquals(852_559_872L, params, "cpu-bench: 16 layers of TinyLlama's shape, 1.7 GB in BF16");
    ModelGenerator.Spec l7 = ModelGenerator.preset("llama-7b-shape");
    long p7 = ModelGenerator.tensors(l7, 0).stream().mapToLong(e -> e.numel()).sum();
    assertEquals(6_738_415_616L, p7, "Llama-2-7B parameter count");
    assertEquals("F16", l7.dtype().name());
  }

  static double mean(float[] v) {
    double s = 0;
    for (float x : v) {
      s += x;
    }
    return s / v.length;
  }

  static double std(float[] v) {
    double m = mean(v), s = 0;
    for (float x : v) {
      s += (x - m) * (x - m);
    }
    return Math.sqrt(s / v.length);
  }
}
