package dev.lorastream.engine.ops.cuda;

import dev.lorastream.engine.tensor.DType;
import java.util.Locale;

/**
 * Every kernel of {@code kernels/ABI.md}: its family (the PTX resource {@code
 * kernels/ptx/<family>.ptx} that holds it), its symbol stem and its argument kinds, one letter per
 * argument in ABI order: {@code p} device pointer, {@code i} int, {@code l} long, {@code f} float.
 * The symbol for a dtype appends {@code _f16} or {@code _bf16}; the two converts put the dtype in
 * the middle ({@code f32_to_bf16}, {@code bf16_to_f32}).
 *
 * <p>Pure data: no JCuda here, so the table is checked against ABI.md without a GPU.
 */
public enum CudaKernel {
  GEMM("gemm", "gemm", "ppppiii"),
  /** The decode GEMV: same arguments and result as {@link #GEMM}, faster for M ≤ 16. */
  GEMM_SKINNY("gemm", "gemm_skinny", "ppppiii"),
  SGMV_SHRINK("lora", "sgmv_shrink", "ppppppipii"),
  SGMV_EXPAND("lora", "sgmv_expand", "ppppppipii"),
  BGMV("lora", "bgmv", "ppppppppiiii"),
  RMS_NORM("norm", "rms_norm", "pppiif"),
  ADD_RMS_NORM("norm", "add_rms_norm", "ppppiif"),
  ROPE("rope", "rope", "ppppiiii"),
  SILU_MUL("act", "silu_mul", "pppl"),
  ADD("act", "add", "ppl"),
  EMBED("embed", "embed", "pppii"),
  WRITE_KV("attention", "write_kv", "pppppii"),
  PAGED_ATTENTION("attention", "paged_attention", "ppppipppiiiiif"),
  ARGMAX("sample", "argmax", "ppii"),
  SAMPLE("sample", "sample", "pppppppii"),
  F32_TO("convert", "f32_to", "ppl"),
  TO_F32("convert", "to_f32", "ppl");

  /** The kernel families, one PTX module each. */
  public static final String[] FAMILIES = {
    "gemm", "lora", "norm", "rope", "act", "embed", "attention", "sample", "convert"
  };

  private final String family;
  private final String stem;
  private final String args;

  CudaKernel(String family, String stem, String args) {
    this.family = family;
    this.stem = stem;
    this.args = args;
  }

  public String family() {
    return family;
  }

  /** Argument kinds in ABI order ({@code p}, {@code i}, {@code l}, {@code f}). */
  public String argKinds() {
    return args;
  }

  /** The classpath resource of this kernel's PTX module. */
  public String resource() {
    return resource(family);
  }

  public static String resource(String family) {
    return "kernels/ptx/" + family + ".ptx";
  }

  /** The ABI suffix of a dtype: {@code f16} or {@code bf16}; F32 has no kernels. */
  public static String suffix(DType dtype) {
    return switch (dtype) {
      case F16 -> "f16";
      case BF16 -> "bf16";
      case F32, I8 ->
          throw new IllegalArgumentException(
              "no CUDA kernels compute in dtype="
                  + dtype.name().toLowerCase(java.util.Locale.ROOT)
                  + ": use f16 or bf16");
    };
  }

  /** The exported symbol for {@code dtype}, e.g. {@code sgmv_shrink_bf16}, {@code bf16_to_f32}. */
  public String symbol(DType dtype) {
    String t = suffix(dtype);
    return switch (this) {
      case F32_TO -> "f32_to_" + t;
      case TO_F32 -> t + "_to_f32";
      default -> stem + "_" + t;
    };
  }

  /** Short lower-case name for messages. */
  public String label() {
    return name().toLowerCase(Locale.ROOT);
  }
}
