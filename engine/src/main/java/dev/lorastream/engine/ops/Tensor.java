package dev.lorastream.engine.ops;

import dev.lorastream.engine.tensor.DType;
import java.util.Arrays;

/**
 * A tensor owned by an {@link Ops} backend: host memory for the CPU backend, device memory for
 * CUDA.
 *
 * <p>Model code only passes tensors back to the backend that made them; it never reads their
 * memory. Shapes are row-major, outermost first. Not thread-safe: one running batch owns its
 * activations.
 */
public abstract class Tensor {
  private final DType dtype;
  private final int[] shape;

  protected Tensor(DType dtype, int... shape) {
    this.dtype = dtype;
    this.shape = shape.clone();
  }

  public final DType dtype() {
    return dtype;
  }

  public final int[] shape() {
    return shape.clone();
  }

  /** Dimension {@code i}; negative counts from the end. */
  public final int dim(int i) {
    return shape[i < 0 ? shape.length + i : i];
  }

  public final int rank() {
    return shape.length;
  }

  public final long numel() {
    long n = 1;
    for (int d : shape) {
      n *= d;
    }
    return n;
  }

  @Override
  public String toString() {
    return getClass().getSimpleName() + "(" + dtype + Arrays.toString(shape) + ")";
  }
}
