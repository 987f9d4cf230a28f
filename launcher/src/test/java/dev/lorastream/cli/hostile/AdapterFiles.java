package dev.lorastream.cli.hostile;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * The demo's {@code legal} adapter copied into a folder and then damaged on purpose: its
 * safetensors header (an 8-byte little-endian length, then JSON) and data, or its config.
 */
final class AdapterFiles {
  static final String WEIGHTS = "adapter_model.safetensors";
  static final String CONFIG = "adapter_config.json";
  static final Path SOURCE = HostileStack.MODEL.resolve("adapters/legal");

  /** The tensor the cases damage: F32 [16, 256]. */
  static final String TENSOR = "base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight";

  /** A tensor of the same shape as {@link #TENSOR}. */
  static final String TWIN = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight";

  private static final ObjectMapper JSON = new ObjectMapper();

  final Path dir;
  ObjectNode header;
  byte[] data;

  private AdapterFiles(Path dir, ObjectNode header, byte[] data) {
    this.dir = dir;
    this.header = header;
    this.data = data;
  }

  /** A fresh copy of the legal adapter in {@code dir}, parsed. */
  static AdapterFiles copy(Path dir) {
    try {
      Files.createDirectories(dir);
      Files.copy(SOURCE.resolve(CONFIG), dir.resolve(CONFIG));
      Files.copy(SOURCE.resolve(WEIGHTS), dir.resolve(WEIGHTS));
      byte[] all = Files.readAllBytes(SOURCE.resolve(WEIGHTS));
      int len = (int) ByteBuffer.wrap(all, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
      ObjectNode header = (ObjectNode) JSON.readTree(Arrays.copyOfRange(all, 8, 8 + len));
      return new AdapterFiles(dir, header, Arrays.copyOfRange(all, 8 + len, all.length));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  ObjectNode tensor(String name) {
    return (ObjectNode) header.get(name);
  }

  long begin(String name) {
    return tensor(name).get("data_offsets").get(0).asLong();
  }

  long end(String name) {
    return tensor(name).get("data_offsets").get(1).asLong();
  }

  void offsets(String name, long begin, long end) {
    ArrayNode o = tensor(name).putArray("data_offsets");
    o.add(begin);
    o.add(end);
  }

  /** Writes element {@code index} of a F32 tensor. */
  void f32(String name, int index, float value) {
    ByteBuffer.wrap(data)
        .order(ByteOrder.LITTLE_ENDIAN)
        .putFloat((int) begin(name) + 4 * index, value);
  }

  /** Writes the weights file from the header and data. */
  void write() {
    writeWeights(framed(header.toString().getBytes(StandardCharsets.UTF_8), data));
  }

  void writeWeights(byte[] bytes) {
    write(WEIGHTS, bytes);
  }

  void writeConfig(String json) {
    write(CONFIG, json.getBytes(StandardCharsets.UTF_8));
  }

  /** The config as JSON, for edits. */
  ObjectNode config() {
    try {
      return (ObjectNode) JSON.readTree(dir.resolve(CONFIG).toFile());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private void write(String name, byte[] bytes) {
    try {
      Files.deleteIfExists(dir.resolve(name));
      Files.write(dir.resolve(name), bytes);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** A header of {@code headerBytes} claiming its own length, then {@code data}. */
  static byte[] framed(byte[] headerBytes, byte[] data) {
    return framed(headerBytes.length, headerBytes, data);
  }

  /** A header of {@code headerBytes} claiming {@code claimed} bytes, then {@code data}. */
  static byte[] framed(long claimed, byte[] headerBytes, byte[] data) {
    ByteBuffer b =
        ByteBuffer.allocate(8 + headerBytes.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
    return b.putLong(claimed).put(headerBytes).put(data).array();
  }
}
