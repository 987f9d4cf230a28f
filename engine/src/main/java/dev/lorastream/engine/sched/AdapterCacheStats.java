package dev.lorastream.engine.sched;

/**
 * A snapshot of the host adapter tier ({@link Engine#adapterCacheStats}): counters since the engine
 * started, and the resident set now. Read by the consumer's metrics ({@code
 * lorastream.adapters.host.*}).
 *
 * @param hits requests whose adapter was loaded or loading in host memory when they arrived
 * @param misses loads started: a request found its adapter absent (never loaded, evicted,
 *     invalidated, or its remembered failure expired). A request that finds a remembered failure
 *     counts as neither.
 * @param failures loads that ended in an error
 * @param evictions loaded adapters evicted to keep within {@code
 *     lorastream.adapters.host-cache-bytes} (not counting invalidations)
 * @param evictedBytes their bytes
 * @param residentBytes bytes of the adapters loaded in host memory now
 * @param residentEntries adapters loaded in host memory now
 * @param loadsCompleted loads that ended, loaded or failed (a load made stale by an invalidation
 *     included)
 * @param loadNanos time those loads took (reading, decoding and checking), in nanoseconds
 */
public record AdapterCacheStats(
    long hits,
    long misses,
    long failures,
    long evictions,
    long evictedBytes,
    long residentBytes,
    int residentEntries,
    long loadsCompleted,
    long loadNanos) {}
