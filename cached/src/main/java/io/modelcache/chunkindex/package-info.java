/**
 * The chunk digest index of a model: for every file, the sha256 of each fixed-size chunk of its
 * content in file coordinates, bound to the model manifest and its layer digests. Here are the
 * format ({@link io.modelcache.chunkindex.ChunkIndex}, canonical JSON of media type
 * {@value io.modelcache.chunkindex.ChunkIndex#MEDIA_TYPE}), building it while bytes stream past
 * ({@link io.modelcache.chunkindex.ChunkHasher}, {@link io.modelcache.chunkindex.LayerIndexer}),
 * its encoding as an OCI artifact whose {@code subject} is the model manifest
 * ({@link io.modelcache.chunkindex.IndexArtifact}: referrers API, referrers tag schema) and the
 * adapter that publishes and finds it in a registry or layout
 * ({@link io.modelcache.chunkindex.IndexStore}). The cache checks chunks against it through
 * {@link io.modelcache.cache.ChunkDigests}.
 *
 * <p>Threading: values are immutable; hashers are used by one thread at a time; {@code IndexStore}
 * is stateless and as thread-safe as the source or sink it is given.
 */
package io.modelcache.chunkindex;
