package io.modelcache.cache;

import io.modelcache.oci.Digest;

/** One row of {@link ChunkCache#list()}. {@code lastAccess} is in the cache clock's units. */
public record CachedBlobInfo(
    String key,
    Digest digest,
    Encoding encoding,
    long contentLength,
    long cachedBytes,
    BlobState state,
    long lastAccess,
    int openHandles) {}
