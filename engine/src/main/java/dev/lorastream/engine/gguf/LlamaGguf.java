package dev.lorastream.engine.gguf;

import dev.lorastream.engine.config.ModelConfig;
import dev.lorastream.engine.config.Proj;
import dev.lorastream.engine.io.GgufWriter.TensorData;
import dev.lorastream.engine.io.UnsupportedArchitectureException;
import dev.lorastream.engine.tensor.HostTensor;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.List;

/**
 * What llama.cpp's {@code llama} architecture calls things, and how its q/k weights are laid out.
 *
 * <p>Hugging Face's Llama applies RoPE to the two halves of each head ({@code rotate_half}); ggml's
 * {@code llama} rope rotates adjacent pairs. llama.cpp's converter therefore reorders the rows of
 * {@code q_proj} and {@code k_proj} (and of a LoRA's {@code lora_B} for them) per head: viewed as
 * {@code [n_head, 2, head_dim/2, in]}, the two middle axes are swapped, so output row {@code 2i +
 * j} of a head is input row {@code j * head_dim/2 + i}.
 */
public final class LlamaGguf {

  /** {@code general.architecture} of every file written here. */
  public static final String ARCH = "llama";

  /** The HF architectures llama.cpp converts to {@link #ARCH}, which the engine also loads. */
  public static final List<String> EXPORTABLE = List.of(ModelConfig.LLAMA, ModelConfig.MISTRAL);

  private LlamaGguf() {}

  /**
   * Refuses a model that llama.cpp would not run as {@code llama}.
   *
   * @throws UnsupportedArchitectureException naming the model, its architecture and what is
   *     exportable
   */
  public static void requireLlama(ModelConfig c, Path modelDir) {
    if (!EXPORTABLE.contains(c.architecture())) {
      throw new UnsupportedArchitectureException(
          modelDir
              + ": architecture '"
              + c.architecture()
              + "' cannot be exported to GGUF; export-gguf writes llama.cpp's 'llama' architecture,"
              + " from "
              + EXPORTABLE);
    }
  }

  /** The GGUF name of a projection's weight in {@code layer}, e.g. {@code blk.3.attn_q.weight}. */
  public static String weightName(int layer, Proj p) {
    String n =
        switch (p) {
          case Q -> "attn_q";
          case K -> "attn_k";
          case V -> "attn_v";
          case O -> "attn_output";
          case GATE -> "ffn_gate";
          case UP -> "ffn_up";
          case DOWN -> "ffn_down";
        };
    return "blk." + layer + "." + n + ".weight";
  }

  /**
   * The head count by which {@code p}'s output rows are permuted ({@code n_head} for q, {@code
   * n_head_kv} for k), or 0 when they are kept.
   */
  public static int permuteHeads(Proj p, ModelConfig c) {
    return switch (p) {
      case Q -> c.numHeads();
      case K -> c.numKvHeads();
      default -> 0;
    };
  }

  /**
   * The source row of output row {@code row} after the q/k permutation of {@code rows} rows in
   * {@code heads} heads.
   */
  public static int sourceRow(int row, int rows, int heads) {
    int headDim = rows / heads;
    int half = headDim / 2;
    int h = row / headDim;
    int r = row % headDim;
    return h * headDim + (r % 2) * half + r / 2;
  }

  /** Ggml dimensions of a row-major PyTorch shape: the same dimensions, innermost first. */
  public static long[] ne(int... shape) {
    long[] ne = new long[shape.length];
    for (int i = 0; i < shape.length; i++) {
      ne[i] = shape[shape.length - 1 - i];
    }
    return ne;
  }

  /** {@code t}'s bytes as they are. */
  public static TensorData copy(HostTensor t) {
    return out -> out.write(t.data());
  }

  /**
   * {@code t} ({@code [rows, cols]}, any dtype) with its rows in the q/k order for {@code heads}
   * heads, bytes otherwise unchanged.
   */
  public static TensorData permutedRows(HostTensor t, int heads) {
    int rows = t.dim(0);
    checkPermutable(t.name(), rows, heads);
    long rowBytes = (long) t.dim(1) * t.dtype().bytes();
    MemorySegment data = t.data();
    return out -> {
      for (int row = 0; row < rows; row++) {
        out.write(data.asSlice(sourceRow(row, rows, heads) * rowBytes, rowBytes));
      }
    };
  }

  /**
   * {@code t} ({@code [rows, cols]}, cols a multiple of 32, any dtype) quantized to ggml's Q8_0,
   * rows in the q/k order for {@code heads} heads (0: unchanged), as llama.cpp's {@code
   * quantize_row_q8_0_ref} does it: per block of 32, {@code d = max|x| / 127} (stored as F16),
   * {@code q = round(x / d)} half away from zero. Heap use: one row.
   */
  public static TensorData q8_0(HostTensor t, int heads) {
    int rows = t.dim(0);
    int cols = t.dim(1);
    if (heads > 0) {
      checkPermutable(t.name(), rows, heads);
    }
    return out -> {
      float[] row = new float[cols];
      byte[] q = new byte[32];
      for (int r = 0; r < rows; r++) {
        long base = (long) (heads > 0 ? sourceRow(r, rows, heads) : r) * cols;
        for (int j = 0; j < cols; j++) {
          row[j] = t.getFloat(base + j);
        }
        for (int b = 0; b < cols; b += 32) {
          float amax = 0;
          for (int j = 0; j < 32; j++) {
            amax = Math.max(amax, Math.abs(row[b + j]));
          }
          float d = amax / 127f;
          float id = d != 0 ? 1f / d : 0f;
          for (int j = 0; j < 32; j++) {
            float v = row[b + j] * id;
            q[j] = (byte) (int) Math.copySign(Math.floor(Math.abs(v) + 0.5f), v);
          }
          out.writeShort(Float.floatToFloat16(d));
          out.writeBytes(q);
        }
      }
    };
  }

  /** {@code values} ({@code [rows, cols]} float32) with rows permuted, as float32 bytes. */
  public static TensorData permutedRows(String name, float[] values, int rows, int heads) {
    checkPermutable(name, rows, heads);
    int cols = values.length / rows;
    return out -> {
      for (int row = 0; row < rows; row++) {
        int src = sourceRow(row, rows, heads) * cols;
        for (int j = 0; j < cols; j++) {
          out.writeFloat(values[src + j]);
        }
      }
    };
  }

  /** {@code values} as float32 bytes. */
  public static TensorData floats(float[] values) {
    return out -> {
      for (float v : values) {
        out.writeFloat(v);
      }
    };
  }

  /** {@code t} decoded to float32, e.g. a BF16 norm weight. */
  public static TensorData asF32(HostTensor t) {
    return out -> {
      long n = t.numel();
      for (long i = 0; i < n; i++) {
        out.writeFloat(t.getFloat(i));
      }
    };
  }

  private static void checkPermutable(String name, int rows, int heads) {
    if (heads <= 0 || rows % (2 * heads) != 0) {
      throw new IllegalArgumentException(
          "tensor '" + name + "' has " + rows + " rows: not " + heads + " heads of even size");
    }
  }
}
