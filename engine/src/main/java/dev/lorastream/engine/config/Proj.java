package dev.lorastream.engine.config;

import java.util.Arrays;
import java.util.Locale;

/**
 * The seven linear projections of a Llama-family decoder layer, the modules a LoRA adapter may
 * target.
 *
 * <p>Hugging Face names them {@code model.layers.N.<parent>.<hfName>}, e.g. {@code
 * model.layers.0.mlp.gate_proj}; the weight of each is {@code [outDim, inDim]}.
 */
public enum Proj {
  Q("q_proj", "self_attn"),
  K("k_proj", "self_attn"),
  V("v_proj", "self_attn"),
  O("o_proj", "self_attn"),
  GATE("gate_proj", "mlp"),
  UP("up_proj", "mlp"),
  DOWN("down_proj", "mlp");

  private final String hfName;
  private final String parent;

  Proj(String hfName, String parent) {
    this.hfName = hfName;
    this.parent = parent;
  }

  /** {@code "q_proj"}, ..., {@code "down_proj"}. */
  public String hfName() {
    return hfName;
  }

  /** {@code "q"}, ..., {@code "gate"}, {@code "up"}, {@code "down"}. */
  public String shortName() {
    return hfName.substring(0, hfName.length() - "_proj".length());
  }

  /** {@code "self_attn"} or {@code "mlp"}. */
  public String parent() {
    return parent;
  }

  /** The module's name in the Hugging Face model, e.g. {@code model.layers.3.self_attn.q_proj}. */
  public String moduleName(int layer) {
    return "model.layers." + layer + "." + parent + "." + hfName;
  }

  /** Input features: heads*headDim for o, intermediate for down, hidden otherwise. */
  public int inDim(ModelConfig c) {
    return switch (this) {
      case Q, K, V, GATE, UP -> c.hiddenSize();
      case O -> c.numHeads() * c.headDim();
      case DOWN -> c.intermediateSize();
    };
  }

  /**
   * Output features: heads*headDim for q, kvHeads*headDim for k and v, intermediate for gate and
   * up.
   */
  public int outDim(ModelConfig c) {
    return switch (this) {
      case Q -> c.numHeads() * c.headDim();
      case K, V -> c.numKvHeads() * c.headDim();
      case O, DOWN -> c.hiddenSize();
      case GATE, UP -> c.intermediateSize();
    };
  }

  /**
   * Parses {@code "q"}, {@code "q_proj"} or {@code "Q"} (case-insensitive).
   *
   * @throws IllegalArgumentException naming the value and the accepted names
   */
  public static Proj parse(String name) {
    String n = name.trim().toLowerCase(Locale.ROOT);
    for (Proj p : values()) {
      if (n.equals(p.hfName) || n.equals(p.shortName())) {
        return p;
      }
    }
    throw new IllegalArgumentException(
        "unknown projection '"
            + name
            + "': expected one of "
            + Arrays.stream(values()).map(Proj::hfName).toList()
            + " (or without the _proj suffix)");
  }
}
