package io.modelcache.cache;

/**
 * Outcome of {@link ChunkCache#verify(String)}; {@code detail} is a one-line human explanation;
 * {@code damagedChunks}: chunks this verification found damaged on disk and dropped (they may be
 * back already, fetched again for a file the kernel reads in passthrough, and the status say so).
 */
public record VerifyResult(String key, Status status, String detail, int damagedChunks) {
  public VerifyResult(String key, Status status, String detail) {
    this(key, status, detail, 0);
  }

  public enum Status {
    /** The whole blob was re-hashed and matches its digest. */
    VERIFIED,
    /**
     * The blob cannot be re-hashed from local bytes alone (compressed, or a tar member whose
     * surroundings are not cached and no upstream is attached); every chunk matched its CRC32C.
     */
    CHUNKS_OK,
    /** Not every chunk is cached; the cached ones were checked against their CRC32C (bad ones dropped). */
    INCOMPLETE,
    /** The digest did not match (or the blob had already failed): it is marked FAILED. */
    FAILED
  }

  public boolean ok() {
    return status == Status.VERIFIED || status == Status.CHUNKS_OK;
  }
}
