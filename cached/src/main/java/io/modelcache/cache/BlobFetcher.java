package io.modelcache.cache;

import java.io.IOException;
import java.io.InputStream;

/**
 * The cache's only view of upstream: raw bytes of a layer blob (in practice a registry Range GET).
 * Implementations should carry their own connect/read timeouts; the cache additionally closes the
 * stream when a fetch makes no progress for {@link CacheConfig#fetchTimeout()}.
 */
@FunctionalInterface
public interface BlobFetcher {
  /**
   * Opens {@code [blobOffset, blobOffset + length)} of the blob, or from {@code blobOffset} to the
   * end when {@code length} is -1. The stream may return fewer bytes only if the blob ends.
   */
  InputStream open(long blobOffset, long length) throws IOException;

  /**
   * As {@link #open(long, long)} for the {@code attempt}-th refetch of bytes that failed their check
   * (0 for the first fetch): a fetcher with several sources may start at the next one.
   */
  default InputStream open(long blobOffset, long length, int attempt) throws IOException {
    return open(blobOffset, length);
  }
}
