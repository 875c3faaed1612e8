package io.modelcache.cache;

/**
 * Counters of per-chunk verification against chunk digest indexes, since the cache opened.
 *
 * @param failures chunks that did not match their index digest when they arrived
 * @param refetches fetches again of such chunks
 * @param indexRejected blobs for which the index proved wrong (their whole digest matched)
 */
public record ChunkCheckStats(long failures, long refetches, long indexRejected) {}
