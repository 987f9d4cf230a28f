package dev.lorastream.engine.gguf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lorastream.engine.io.ModelFormatException;
import dev.lorastream.engine.io.UnsupportedArchitectureException;
import dev.lorastream.engine.tensor.DType;
import dev.lorastream.engine.testdata.GgufTestReader;
import dev.lorastream.engine.testdata.GgufTestReader.Arr;
import dev.lorastream.engine.testdata.GgufTestReader.Info;
import dev.lorastream.engine.testdata.GgufTestReader.Value;
import dev.lorastream.engine.testdata.ModelGenerator;
import dev.lorastream.engine.testdata.ModelGenerator.Arch;
import dev.lorastream.engine.testdata.ModelGenerator.Spec;
import dev.lorastream.engine.testdata.SafetensorsTestReader;
import dev.lorastream.engine.testdata.TokenizerJson;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The tiny generated model exported to GGUF and read back with an independent reader: header, every
 * metadata value, tensor infos and alignment, bytes against the safetensors source, and the q/k row
 * permutation element by element.
 */
class GgufModelExportTest {
  @TempDir Path tmp;

  static final int BF16 = 30;
  static final int F32 = 0;

  static Path tinyModel(Path dir, DType dtype, boolean tied, boolean llama3, Arch arch)
      throws Exception {
    ModelGenerator.make(
        "tiny",
        new ModelGenerator.Options(
            7, dtype, arch, 1, null, tied, llama3, TokenizerJson.DEFAULT_MERGES),
        dir);
    return dir;
  }

  /**
   * Q8_0: every projection and the output head quantized per block of 32 as llama.cpp's {@code
   * quantize_row_q8_0_ref} does (each value within half a step of its source; q/k rows permuted),
   * the embeddings and norms as stored, {@code general.file_type} 7 (MOSTLY_Q8_0).
   */
  @Test
  void q8_0ExportQuantizesTheProjectionsPerBlockOf32() throws Exception {
    Path model = tmp.resolve("q8");
    ModelGenerator.write(
        new Spec(Arch.llama, 64, 96, 2, 4, 2, 512, 512, DType.BF16, false, false),
        3,
        1,
        TokenizerJson.DEFAULT_MERGES,
        model);
    Path out = tmp.resolve("q8.gguf");
    GgufModelExport.export(model, out, GgufModelExport.Weights.Q8_0);
    GgufTestReader r = new GgufTestReader(out);
    SafetensorsTestReader src = new SafetensorsTestReader(model.resolve("model.safetensors"));
    assertEquals(new Value(4, 7L), r.kv.get("general.file_type"));
    assertDims(r, "token_embd.weight", BF16, 64, 512);
    assertArrayEquals(src.bytes("model.embed_tokens.weight"), r.bytes("token_embd.weight"));
    assertDims(r, "blk.1.ffn_down.weight", GgufTestReader.Q8_0, 96, 64);
    assertDims(r, "output.weight", GgufTestReader.Q8_0, 64, 512);
    assertEquals(96 / 32 * 34 * 64, r.byteSize("blk.1.ffn_down.weight"));
    assertWithinHalfAStep(
        src.floats("model.layers.1.mlp.down_proj.weight"), r.q8_0("blk.1.ffn_down.weight"), 96);
    assertWithinHalfAStep(src.floats("lm_head.weight"), r.q8_0("output.weight"), 64);
    // q: rows permuted to llama.cpp's order, like the unquantized export
    float[] q = src.floats("model.layers.0.self_attn.q_proj.weight");
    float[] permuted = new float[q.length];
    int heads = 4, rows = 64, cols = 64, half = rows / heads / 2;
    for (int row = 0; row < rows; row++) {
      int h = row / (2 * half), i = row % (2 * half);
      int from = h * 2 * half + (i % 2 == 0 ? i / 2 : half + i / 2);
      System.arraycopy(q, from * cols, permuted, row * cols, cols);
    }
    assertWithinHalfAStep(permuted, r.q8_0("blk.0.attn_q.weight"), cols);
  }

  @Test
  void q8_0ExportRefusesAProjectionWhoseInputsAreNotBlocksOf32() throws Exception {
    Path model = tinyModel(tmp.resolve("tiny"), DType.BF16, false, false, Arch.llama);
    var e =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                GgufModelExport.export(model, tmp.resolve("t.gguf"), GgufModelExport.Weights.Q8_0));
    assertEquals(
        "cannot write blk.0.ffn_down.weight as Q8_0: its 172 inputs are not a multiple of 32;"
            + " export it with the weights as stored",
        e.getMessage());
  }

  /**
   * Each value within half of its block's step {@code d = max|x| / 127} (plus F16 rounding of d).
   */
  private static void assertWithinHalfAStep(float[] src, float[] q8, int cols) {
    assertEquals(src.length, q8.length);
    for (int blk = 0; blk < src.length / 32; blk++) {
      float amax = 0;
      for (int j = 0; j < 32; j++) {
        amax = Math.max(amax, Math.abs(src[32 * blk + j]));
      }
      double step = amax / 127.0;
      for (int j = 0; j < 32; j++) {
        int i = 32 * blk + j;
        double err = Math.abs(q8[i] - src[i]);
        assertTrue(
            err <= step / 2 + Math.abs(src[i]) * 1e-3 + 1e-9,
            "element " + i + " (row " + i / cols + "): " + q8[i] + " vs " + src[i]);
      }
    }
  }

  @Test
  void exportsTheTinyBf16Model() throws Exception {
    Path model = tinyModel(tmp.resolve("tiny-bf16"), DType.BF16, false, false, Arch.llama);
    Path out = tmp.resolve("tiny.gguf");
    GgufModelExport.Result res = GgufModelExport.export(model, out);
    GgufTestReader r = new GgufTestReader(out);
    SafetensorsTestReader src = new SafetensorsTestReader(model.resolve("model.safetensors"));
    JsonNode tok = new ObjectMapper().readTree(model.resolve("tokenizer.json").toFile());

    assertEquals(0x46554747, r.magic);
    assertEquals(3, r.version);
    assertEquals(32, r.alignment);

    // every metadata value, with its GGUF type
    Map<String, Value> expected = new LinkedHashMap<>();
    expected.put("general.architecture", new Value(8, "llama"));
    expected.put("general.type", new Value(8, "model"));
    expected.put("general.name", new Value(8, "tiny-bf16"));
    expected.put("general.file_type", new Value(4, 32L));
    expected.put("llama.vocab_size", new Value(4, 512L));
    expected.put("llama.context_length", new Value(4, 512L));
    expected.put("llama.embedding_length", new Value(4, 64L));
    expected.put("llama.block_count", new Value(4, 2L));
    expected.put("llama.feed_forward_length", new Value(4, 172L));
    expected.put("llama.rope.dimension_count", new Value(4, 16L));
    expected.put("llama.attention.head_count", new Value(4, 4L));
    expected.put("llama.attention.head_count_kv", new Value(4, 2L));
    expected.put("llama.attention.key_length", new Value(4, 16L));
    expected.put("llama.attention.value_length", new Value(4, 16L));
    expected.put("llama.attention.layer_norm_rms_epsilon", new Value(6, 1e-5f));
    expected.put("llama.rope.freq_base", new Value(6, 10000f));
    expected.put("tokenizer.ggml.model", new Value(8, "gpt2"));
    expected.put("tokenizer.ggml.pre", new Value(8, "gpt-2"));
    List<Object> tokens = new ArrayList<>();
    List<Object> types = new ArrayList<>();
    for (int i = 0; i < 512; i++) {
      tokens.add(null);
      types.add(i < 4 ? 3 : 1); // the four specials are CONTROL
    }
    tok.get("model")
        .get("vocab")
        .properties()
        .forEach(e -> tokens.set(e.getValue().asInt(), e.getKey()));
    expected.put("tokenizer.ggml.tokens", new Value(9, new Arr(8, tokens)));
    expected.put("tokenizer.ggml.token_type", new Value(9, new Arr(5, types)));
    List<Object> merges = new ArrayList<>();
    tok.get("model").get("merges").forEach(m -> merges.add(m.asText()));
    expected.put("tokenizer.ggml.merges", new Value(9, new Arr(8, merges)));
    expected.put("tokenizer.ggml.bos_token_id", new Value(4, 1L));
    expected.put("tokenizer.ggml.eos_token_id", new Value(4, 2L));
    expected.put("tokenizer.ggml.add_bos_token", new Value(7, true));
    expected.put("tokenizer.ggml.add_eos_token", new Value(7, false));
    expected.put("general.alignment", new Value(4, 32L));
    assertEquals(List.copyOf(expected.keySet()), List.copyOf(r.kv.keySet()));
    for (var e : expected.entrySet()) {
      assertEquals(e.getValue(), r.kv.get(e.getKey()), e.getKey());
    }
    assertEquals(512, r.array("tokenizer.ggml.tokens").size(), "one token per embedding row");
    assertEquals(
        List.of("<unk>", "<s>", "</s>", "<pad>"), r.array("tokenizer.ggml.tokens").subList(0, 4));
    assertEquals(252, merges.size());

    // tensor infos: names, dims (innermost first), types, aligned back-to-back offsets
    List<String> names = new ArrayList<>(List.of("token_embd.weight"));
    for (int l = 0; l < 2; l++) {
      for (String t :
          List.of(
              "attn_norm",
              "attn_q",
              "attn_k",
              "attn_v",
              "attn_output",
              "ffn_norm",
              "ffn_gate",
              "ffn_up",
              "ffn_down")) {
        names.add("blk." + l + "." + t + ".weight");
      }
    }
    names.add("output_norm.weight");
    names.add("output.weight");
    assertEquals(names, List.copyOf(r.tensors.keySet()));
    assertEquals(names.size(), res.tensors());
    assertEquals(r.fileSize(), res.bytes());
    assertDims(r, "token_embd.weight", BF16, 64, 512);
    assertDims(r, "output.weight", BF16, 64, 512);
    assertDims(r, "output_norm.weight", F32, 64);
    assertDims(r, "blk.1.attn_norm.weight", F32, 64);
    assertDims(r, "blk.1.ffn_norm.weight", F32, 64);
    assertDims(r, "blk.0.attn_q.weight", BF16, 64, 64);
    assertDims(r, "blk.0.attn_k.weight", BF16, 64, 32);
    assertDims(r, "blk.0.attn_v.weight", BF16, 64, 32);
    assertDims(r, "blk.0.attn_output.weight", BF16, 64, 64);
    assertDims(r, "blk.0.ffn_gate.weight", BF16, 64, 172);
    assertDims(r, "blk.0.ffn_up.weight", BF16, 64, 172);
    assertDims(r, "blk.0.ffn_down.weight", BF16, 172, 64);
    assertAlignedAndContiguous(r, names);

    // bytes: matrices copied as they are, norms widened to F32
    assertArrayEquals(src.bytes("model.embed_tokens.weight"), r.bytes("token_embd.weight"));
    assertArrayEquals(src.bytes("lm_head.weight"), r.bytes("output.weight"));
    assertArrayEquals(
        src.bytes("model.layers.1.self_attn.v_proj.weight"), r.bytes("blk.1.attn_v.weight"));
    assertArrayEquals(
        src.bytes("model.layers.0.mlp.down_proj.weight"), r.bytes("blk.0.ffn_down.weight"));
    assertArrayEquals(
        src.bytes("model.layers.1.self_attn.o_proj.weight"), r.bytes("blk.1.attn_output.weight"));
    assertArrayEquals(src.floats("model.norm.weight"), r.floats("output_norm.weight"));
    assertArrayEquals(
        src.floats("model.layers.1.post_attention_layernorm.weight"),
        r.floats("blk.1.ffn_norm.weight"));

    // q and k: rows reordered per head as reshape(n_head, 2, head_dim/2, in).swapaxes(1, 2)
    for (int l = 0; l < 2; l++) {
      String p = "model.layers." + l + ".self_attn.";
      assertPermuted(
          src.floats(p + "q_proj.weight"), r.floats("blk." + l + ".attn_q.weight"), 4, 16, 64);
      assertPermuted(
          src.floats(p + "k_proj.weight"), r.floats("blk." + l + ".attn_k.weight"), 2, 16, 64);
    }
    // a few elements spelled out: head 1 of q, in column 5
    float[] q = src.floats("model.layers.0.self_attn.q_proj.weight");
    float[] gq = r.floats("blk.0.attn_q.weight");
    assertEquals(q[(16 + 0) * 64 + 5], gq[(16 + 0) * 64 + 5]); // row 0 of the head stays
    assertEquals(q[(16 + 8) * 64 + 5], gq[(16 + 1) * 64 + 5]); // row 1 <- row half (8)
    assertEquals(q[(16 + 1) * 64 + 5], gq[(16 + 2) * 64 + 5]); // row 2 <- row 1
    assertEquals(q[(16 + 15) * 64 + 5], gq[(16 + 15) * 64 + 5]); // the last row stays
    assertFalse(
        java.util.Arrays.equals(
            src.bytes("model.layers.0.self_attn.q_proj.weight"), r.bytes("blk.0.attn_q.weight")));
  }

  @Test
  void padsAVocabLargerThanTheTokenizerAndTiesEmbeddings() throws Exception {
    Spec tiny = ModelGenerator.preset("tiny");
    Spec spec =
        new Spec(
            Arch.llama,
            tiny.hidden(),
            tiny.intermediate(),
            1,
            tiny.heads(),
            tiny.kvHeads(),
            600,
            tiny.maxPositions(),
            DType.F32,
            true,
            false);
    Path model = tmp.resolve("padded");
    ModelGenerator.write(spec, 3, 1, TokenizerJson.DEFAULT_MERGES, model);
    Path out = tmp.resolve("padded.gguf");
    GgufModelExport.Result res = GgufModelExport.export(model, out);
    GgufTestReader r = new GgufTestReader(out);
    SafetensorsTestReader src = new SafetensorsTestReader(model.resolve("model.safetensors"));

    assertEquals(600L, r.get("llama.vocab_size"));
    assertEquals(0L, r.get("general.file_type"), "ALL_F32");
    List<Object> tokens = r.array("tokenizer.ggml.tokens");
    List<Object> types = r.array("tokenizer.ggml.token_type");
    assertEquals(600, tokens.size());
    assertEquals(600, types.size());
    assertEquals(512, res.vocab().fromTokenizer());
    for (int i = 512; i < 600; i++) {
      assertEquals("[PAD" + i + "]", tokens.get(i));
      assertEquals(5, types.get(i), "UNUSED");
    }
    assertEquals(1, types.get(511));
    assertFalse(r.tensors.containsKey("output.weight"), "tied: llama.cpp uses token_embd");
    assertDims(r, "token_embd.weight", F32, 64, 600);
    assertArrayEquals(src.bytes("model.embed_tokens.weight"), r.bytes("token_embd.weight"));
    assertArrayEquals(
        src.bytes("model.layers.0.mlp.gate_proj.weight"), r.bytes("blk.0.ffn_gate.weight"));
    assertArrayEquals(
        src.bytes("model.layers.0.input_layernorm.weight"), r.bytes("blk.0.attn_norm.weight"));
    assertAlignedAndContiguous(r, List.copyOf(r.tensors.keySet()));
  }

  @Test
  void llama3RopeScalingBecomesRopeFreqs() throws Exception {
    Path model = tinyModel(tmp.resolve("l3"), DType.F16, false, true, Arch.llama);
    Path out = tmp.resolve("l3.gguf");
    GgufModelExport.export(model, out);
    GgufTestReader r = new GgufTestReader(out);
    assertEquals(1L, r.get("general.file_type"), "MOSTLY_F16");
    assertDims(r, "rope_freqs.weight", F32, 8);
    assertDims(r, "blk.0.attn_q.weight", 1, 64, 64);
    // ggml divides each default frequency by its factor: factor = default / scaled (engine's)
    float[] scaled = dev.lorastream.engine.config.ModelConfig.load(model).ropeInvFreq();
    float[] factors = r.floats("rope_freqs.weight");
    boolean sawScaled = false;
    for (int i = 0; i < 8; i++) {
      double plain = 1 / Math.pow(10000, 2.0 * i / 16);
      assertEquals(plain / scaled[i], factors[i], 1e-4 * factors[i], "factor " + i);
      sawScaled |= factors[i] > 1.5f;
    }
    assertEquals(1f, factors[0], "the highest frequency is kept");
    assertTrue(sawScaled);
  }

  @Test
  void refusesWhatItCannotExportWithAClearMessage() throws Exception {
    Path qwen = tinyModel(tmp.resolve("qwen"), DType.F32, false, false, Arch.qwen2);
    Path out = tmp.resolve("q.gguf");
    UnsupportedArchitectureException e =
        assertThrows(
            UnsupportedArchitectureException.class, () -> GgufModelExport.export(qwen, out));
    assertTrue(
        e.getMessage().contains("'Qwen2ForCausalLM' cannot be exported to GGUF"), e.getMessage());
    assertTrue(e.getMessage().contains("LlamaForCausalLM"), e.getMessage());
    assertFalse(e.getMessage().contains("\n"));
    assertFalse(Files.exists(out));

    Path empty = Files.createDirectories(tmp.resolve("empty"));
    ModelFormatException m =
        assertThrows(ModelFormatException.class, () -> GgufModelExport.export(empty, out));
    assertTrue(
        m.getMessage().contains("is not a model folder: it has no config.json"), m.getMessage());
    m =
        assertThrows(
            ModelFormatException.class, () -> GgufModelExport.export(tmp.resolve("missing"), out));
    assertTrue(m.getMessage().contains("is not a model folder"), m.getMessage());

    Path llama = tinyModel(tmp.resolve("llama"), DType.F32, false, false, Arch.llama);
    IOException io =
        assertThrows(
            IOException.class,
            () -> GgufModelExport.export(llama, tmp.resolve("nope").resolve("m.gguf")));
    assertTrue(io.getMessage().contains("does not exist"), io.getMessage());
    io = assertThrows(IOException.class, () -> GgufModelExport.export(llama, tmp));
    assertTrue(io.getMessage().contains("is a directory"), io.getMessage());

    Files.delete(llama.resolve("tokenizer.json"));
    m = assertThrows(ModelFormatException.class, () -> GgufModelExport.export(llama, out));
    assertTrue(m.getMessage().contains("tokenizer.json"), m.getMessage());
    assertFalse(Files.exists(out));
  }

  /** dst row h*hd + 2i + j holds src row h*hd + j*hd/2 + i. */
  static void assertPermuted(float[] src, float[] dst, int heads, int headDim, int cols) {
    assertEquals(src.length, dst.length);
    for (int h = 0; h < heads; h++) {
      for (int i = 0; i < headDim / 2; i++) {
        for (int j = 0; j < 2; j++) {
          int d = h * headDim + 2 * i + j;
          int s = h * headDim + j * (headDim / 2) + i;
          for (int c = 0; c < cols; c++) {
            assertEquals(src[s * cols + c], dst[d * cols + c], "row " + d + " col " + c);
          }
        }
      }
    }
  }

  static void assertDims(GgufTestReader r, String name, int type, long... ne) {
    Info t = r.tensors.get(name);
    assertTrue(t != null, "no tensor " + name + " in " + r.tensors.keySet());
    assertArrayEquals(ne, t.ne(), name);
    assertEquals(type, t.type(), name);
  }

  /** Offsets start at 0, are multiples of 32, follow each other with padding, and the file ends. */
  static void assertAlignedAndContiguous(GgufTestReader r, List<String> order) {
    assertEquals(0, r.dataStart % 32);
    long next = 0;
    for (String n : order) {
      Info t = r.tensors.get(n);
      assertEquals(next, t.offset(), n);
      assertEquals(0, t.offset() % 32, n);
      next = (t.offset() + r.byteSize(n) + 31) / 32 * 32;
    }
    assertEquals(r.dataStart + next, r.fileSize());
    for (byte b : r.range(r.infosEnd, r.dataStart)) {
      assertEquals(0, b);
    }
  }
}
