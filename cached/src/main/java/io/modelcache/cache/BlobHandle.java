package io.modelcache.cache;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * A reference to one cached blob, obtained from {@link ChunkCache#open}. Thread-safe: many threads
 * may read through one handle. Closing releases the reference (idempotent); the blob's data stays
 * cached until evicted.
 */
public interface BlobHandle extends Closeable {
  /**
   * Reads file bytes at {@code fileOffset} into {@code dst}, filling {@code dst.remaining()} or up
   * to the end of the file, fetching missing chunks as needed. Returns the number of bytes read, 0
   * at or beyond the end of the file.
   *
   * @throws java.io.IOException when a fetch fails or makes no progress within the fetch timeout,
   *     when a chunk is rejected, or when the blob failed verification
   */
  int read(long fileOffset, ByteBuffer dst) throws IOException;

  /**
   * The bytes {@code [fileOffset, fileOffset + len)} (shorter only at the end of the file) held in
   * the cache's memory for the caller until it closes them; null when they are not all cached and
   * in memory now (then {@link #read} serves them, fetching what is missing) or the range is empty.
   * Never waits for a fetch. Throws when the blob failed verification.
   */
  default HeldBytes lend(long fileOffset, int len) throws IOException {
    return null;
  }

  /** Starts fetching missing chunks of the range in the background, only when fetch slots are free. */
  void prefetch(long fileOffset, long length);

  /**
   * Queues fetches of the range's chunks that are neither cached nor in flight, at {@code priority}
   * (they wait for a slot; a reader that blocks on one of them raises it to DEMAND).
   */
  Prefetch prefetch(long fileOffset, long length, FetchPriority priority);

  /** What a {@link #prefetch(long, long, FetchPriority)} started: bytes claimed, and when they end. */
  record Prefetch(long claimedBytes, java.util.concurrent.CompletableFuture<Void> done) {
    public static final Prefetch NONE = new Prefetch(0, java.util.concurrent.CompletableFuture.completedFuture(null));
  }

  /** Every chunk overlapping the range is cached now. */
  boolean isCached(long fileOffset, long length);

  /** The cache's chunk size (the unit of fetching). */
  int chunkSize();

  /** Bytes of prefetched chunks read for the first time since the last call (resets to 0). */
  long takePrefetchUsed();

  /** Cached bytes over the file's length (1.0 for an empty file). */
  double cachedFraction();

  long cachedBytes();

  BlobSpec spec();

  /** Every chunk is cached and the blob's digest was verified. */
  boolean isComplete();

  /**
   * Pins the blob's cache file for a reader that reads it directly (FUSE passthrough), if and only
   * if the blob is complete and verified now ({@link #isComplete()}: the layer digest matched, or
   * every chunk matched the chunk index accepted for the mount) and its file is exactly the file's
   * bytes. Chunks are stored in file coordinates, so this holds for raw layers, tar members and
   * decompressed layers alike. While the pin is open, eviction skips the blob (counted), and the
   * blob's bytes count as pinned. Empty when the blob is partial, failed, unverified or empty, or
   * this handle is closed; empty too while some of the file's bytes on disk were not yet read back
   * against their checksums since the daemon started (the read-back then starts in the background,
   * and a later call gets the pin): see {@code AtRest}.
   */
  java.util.Optional<PinnedFile> pinFile();

  /** Queues a background read-back of the blob's unchecked chunks when it is complete. Nothing by default. */
  default void readBackInBackground() {}

  /**
   * As {@link #pinFile()}, for a file the kernel reads in passthrough already (an open handle taken
   * over from a previous daemon): not refused while the read-back is still to come, since the pin
   * only keeps eviction away from what the kernel reads anyway.
   */
  java.util.Optional<PinnedFile> pinFileInUse();

  /**
   * {@code len} bytes at {@code fileOffset} were read from the {@link #pinFile()} file without this
   * handle (a spliced FUSE reply): counts them as hits and keeps their chunks recent. Never blocks.
   */
  void servedInPlace(long fileOffset, int len);

  @Override
  void close();

  /**
   * Checks every chunk fetched from now on against {@code digests} (the file's entry of a chunk
   * digest index accepted for the model) before serving it. No effect if the blob already has an
   * index, or one was found wrong for it.
   *
   * @throws IllegalArgumentException if the digests describe a file of another length
   */
  void verifyWith(ChunkDigests digests);

  /** Whether chunks of this blob are checked against a chunk digest index. */
  boolean chunkVerified();

  /**
   * Strict verification of a blob without chunk digests: no byte is served through this handle until
   * the whole blob has been fetched and matched its digest; readers wait while it is fetched at
   * read-ahead priority. A blob larger than the cache budget then cannot be read (EIO, one line).
   */
  default void serveOnlyVerified(boolean strict) {}
}
