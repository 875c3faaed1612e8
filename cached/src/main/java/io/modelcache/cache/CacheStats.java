package io.modelcache.cache;

/**
 * Counters since the cache was opened. {@code hits} and {@code misses} count chunks touched by
 * reads; {@code inflightChunks} is a gauge.
 */
public record CacheStats(
    long hits,
    long misses,
    long bytesFetched,
    long evictions,
    long evictedBytes,
    long verifyFailures,
    long inflightChunks) {}
