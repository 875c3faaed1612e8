/**
 * The node-wide chunk cache ({@link io.modelcache.cache.ChunkCache}): lazily fetched, LRU-bounded,
 * crash-safe storage of model file bytes in sparse files, with a Chronicle Map index. The design
 * rationale is at the top of {@code ChunkCache} and of its parts ({@code ReadPath}, {@code Ingest},
 * {@code ChunkStore}, {@code StreamIngest}, {@code Verifier}, {@code AtRest}, {@code Eviction},
 * {@code Recovery}), each with its share.
 *
 * <p>Threading: {@code ChunkCache} and {@code BlobHandle} are thread-safe; reads that hit run on
 * the caller's thread without locks; fetches, verification and the read-back of bytes at rest run
 * on the configured executor.
 * {@link io.modelcache.cache.LruPolicy} is a pure, single-threaded policy guarded by the cache.
 * {@link io.modelcache.cache.PinnedFile}s (cache files handed out for passthrough) may be opened and
 * closed from any thread.
 */
package io.modelcache.cache;
