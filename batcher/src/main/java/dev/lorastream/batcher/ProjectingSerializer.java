package dev.lorastream.batcher;

import java.util.Objects;
import java.util.function.Function;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;

/**
 * Writes a wrapper type by writing the part of it that goes on the wire with the topic's own
 * serializer, e.g. {@link RoutedBatch} as its {@code InferenceBatch}. For sinks only: the wrapper
 * carries routing data (target topic, partition slot) that the bytes must not. Thread-safe when the
 * delegate is.
 */
final class ProjectingSerializer<W, V> implements Serializer<W> {

  private final Serializer<V> delegate;
  private final Function<W, V> projection;

  private ProjectingSerializer(Serializer<V> delegate, Function<W, V> projection) {
    this.delegate = Objects.requireNonNull(delegate);
    this.projection = Objects.requireNonNull(projection);
  }

  /** A serde for sinks ({@code Produced.with}); its deserializer refuses to be used. */
  static <W, V> Serde<W> serde(Serde<V> onWire, Function<W, V> projection) {
    Deserializer<W> none =
        (topic, data) -> {
          throw new UnsupportedOperationException("write-only serde for topic " + topic);
        };
    return Serdes.serdeFrom(new ProjectingSerializer<>(onWire.serializer(), projection), none);
  }

  @Override
  public byte[] serialize(String topic, W data) {
    return data == null ? null : delegate.serialize(topic, projection.apply(data));
  }

  @Override
  public byte[] serialize(String topic, Headers headers, W data) {
    return data == null ? null : delegate.serialize(topic, headers, projection.apply(data));
  }
}
