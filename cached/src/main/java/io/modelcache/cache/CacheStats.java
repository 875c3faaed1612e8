package io.modelcache.cache;

/**
 * Counters since the cache was opened. {@code hits} and {@code misses} count chunks touched by
 * reads; {@code inflightChunks} is a gauge; {@code evictionsSkipped} counts chunk evictions passed
 * over because an open {@link PinnedFile} holds their blob.
 */
public record CacheStats(
    long hits,
    long misses,
    long bytesFetched,
    long evictions,
    long evictedBytes,
    long verifyFailures,
    long inflightChunks,
    long evictionsSkipped) {}
