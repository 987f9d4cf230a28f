package dev.lorastream.engine.testdata;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * Damages files for tests: overwrites one element of a safetensors tensor in place, makes a FIFO.
 */
public final class TestFiles {
  private TestFiles() {}

  /** A bad value in the encodings of one dtype. */
  public enum Bad {
    NAN(0x7FC00000, (short) 0x7E00, (short) 0x7FC0),
    POS_INF(0x7F800000, (short) 0x7C00, (short) 0x7F80),
    NEG_INF(0xFF800000, (short) 0xFC00, (short) 0xFF80);

    private final int f32;
    private final short f16;
    private final short bf16;

    Bad(int f32, short f16, short bf16) {
      this.f32 = f32;
      this.f16 = f16;
      this.bf16 = bf16;
    }

    /** How the engine's messages spell it: NaN, +Inf, -Inf. */
    public String label() {
      return switch (this) {
        case NAN -> "NaN";
        case POS_INF -> "+Inf";
        case NEG_INF -> "-Inf";
      };
    }
  }

  /**
   * Overwrites element {@code index} (flat) of {@code tensor} in the safetensors {@code file} with
   * {@code bad}, in the tensor's own dtype (read from the header).
   */
  public static void poke(Path file, String tensor, long index, Bad bad) throws IOException {
    SafetensorsTestReader r = new SafetensorsTestReader(file);
    SafetensorsTestReader.Info info = r.tensors.get(tensor);
    if (info == null) {
      throw new IllegalArgumentException(file + " has no tensor '" + tensor + "'");
    }
    int size = info.dtype().equals("F32") ? 4 : 2;
    long pos = 8 + r.headerLength + info.begin() + index * size;
    if (pos + size > 8 + r.headerLength + info.end()) {
      throw new IllegalArgumentException("index " + index + " outside '" + tensor + "'");
    }
    ByteBuffer b = ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
    switch (info.dtype()) {
      case "F32" -> b.putInt(bad.f32);
      case "F16" -> b.putShort(bad.f16);
      case "BF16" -> b.putShort(bad.bf16);
      default -> throw new IllegalArgumentException("dtype " + info.dtype());
    }
    try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
      raf.seek(pos);
      raf.write(b.array());
    }
  }

  /**
   * Makes a FIFO at {@code path} with {@code mkfifo}; false when the system has no mkfifo (the
   * caller skips).
   */
  public static boolean mkfifo(Path path) throws InterruptedException {
    try {
      Process p =
          new ProcessBuilder("mkfifo", path.toString())
              .redirectErrorStream(true)
              .redirectOutput(ProcessBuilder.Redirect.DISCARD)
              .start();
      return p.waitFor(10, TimeUnit.SECONDS) && p.exitValue() == 0 && Files.exists(path);
    } catch (IOException e) {
      return false;
    }
  }
}
