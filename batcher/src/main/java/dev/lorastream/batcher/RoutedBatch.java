package dev.lorastream.batcher;

import dev.lorastream.schemas.InferenceBatch;

/**
 * A closed batch on its way to {@code lora.batches}, with the routing decision {@link
 * AffinityPartitioner} needs: {@code spreadSlot} is the offset (0 = the adapter's home partition)
 * that {@link BatchProcessor} chose for a hot adapter. Only {@link #batch} is written to the topic.
 */
record RoutedBatch(InferenceBatch batch, int spreadSlot) {}
