package io.modelcache.cache;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.Executor;
import java.util.function.LongSupplier;

/**
 * Configuration of a {@link ChunkCache}. Build with {@link #defaults(Path)} and the withers.
 *
 * @param dir the cache directory (blob files under {@code blobs/}, the index in {@code index.dat})
 * @param budgetBytes the most bytes of cached chunks to keep
 * @param chunkSize a power of two from 64 KiB to 64 MiB
 * @param fetchTimeout an uncached read fails after upstream makes no progress for this long
 * @param maxConcurrentFetches upstream requests in flight at once, per cache
 * @param fetchExecutor runs fetches and verification; null means a pool owned by the cache
 * @param clock orders accesses for LRU (any monotonic-ish long; default wall-clock millis so that
 *     order survives restarts)
 * @param chunkListener sees each fetched chunk before it becomes visible
 * @param memoryBytes most bytes of just-fetched chunks kept in memory until a reader takes them
 *     (they are written to disk with O_DIRECT, so they are not in the page cache); 0: none
 * @param directIo write cache files with O_DIRECT where the file system supports it (fresh
 *     page-cache pages are the dominant CPU cost of ingest on small VMs); false: buffered writes
 */
public record CacheConfig(
    Path dir,
    long budgetBytes,
    int chunkSize,
    Duration fetchTimeout,
    int maxConcurrentFetches,
    Executor fetchExecutor,
    LongSupplier clock,
    ChunkListener chunkListener,
    long memoryBytes,
    boolean directIo) {
  public static final int MIN_CHUNK_SIZE = 64 << 10;
  public static final int MAX_CHUNK_SIZE = 64 << 20;
  public static final int DEFAULT_CHUNK_SIZE = 4 << 20;
  public static final long DEFAULT_BUDGET = 10L << 30;
  public static final Duration DEFAULT_FETCH_TIMEOUT = Duration.ofSeconds(30);
  public static final int DEFAULT_MAX_CONCURRENT_FETCHES = 8;
  public static final long DEFAULT_MEMORY_BYTES = 128L << 20;

  public CacheConfig {
    Objects.requireNonNull(dir, "dir");
    if (budgetBytes < 0) {
      throw new IllegalArgumentException("cache budget must be >= 0 bytes, got " + budgetBytes);
    }
    if (chunkSize < MIN_CHUNK_SIZE || chunkSize > MAX_CHUNK_SIZE || Integer.bitCount(chunkSize) != 1) {
      throw new IllegalArgumentException(
          "chunk size must be a power of two from 64 KiB to 64 MiB, got " + chunkSize + " bytes");
    }
    Objects.requireNonNull(fetchTimeout, "fetchTimeout");
    if (fetchTimeout.isNegative() || fetchTimeout.isZero()) {
      throw new IllegalArgumentException("fetch timeout must be positive, got " + fetchTimeout);
    }
    if (maxConcurrentFetches < 1) {
      throw new IllegalArgumentException("max concurrent fetches must be >= 1, got " + maxConcurrentFetches);
    }
    if (clock == null) {
      clock = System::currentTimeMillis;
    }
    if (chunkListener == null) {
      chunkListener = ChunkListener.NONE;
    }
    if (memoryBytes < 0) {
      throw new IllegalArgumentException("cache memory must be >= 0 bytes, got " + memoryBytes);
    }
  }

  public static CacheConfig defaults(Path dir) {
    return new CacheConfig(dir, DEFAULT_BUDGET, DEFAULT_CHUNK_SIZE, DEFAULT_FETCH_TIMEOUT,
        DEFAULT_MAX_CONCURRENT_FETCHES, null, null, null, DEFAULT_MEMORY_BYTES, true);
  }

  public CacheConfig withDir(Path v) {
    return new CacheConfig(v, budgetBytes, chunkSize, fetchTimeout, maxConcurrentFetches, fetchExecutor, clock, chunkListener, memoryBytes, directIo);
  }

  public CacheConfig withBudgetBytes(long v) {
    return new CacheConfig(dir, v, chunkSize, fetchTimeout, maxConcurrentFetches, fetchExecutor, clock, chunkListener, memoryBytes, directIo);
  }

  public CacheConfig withChunkSize(int v) {
    return new CacheConfig(dir, budgetBytes, v, fetchTimeout, maxConcurrentFetches, fetchExecutor, clock, chunkListener, memoryBytes, directIo);
  }

  public CacheConfig withFetchTimeout(Duration v) {
    return new CacheConfig(dir, budgetBytes, chunkSize, v, maxConcurrentFetches, fetchExecutor, clock, chunkListener, memoryBytes, directIo);
  }

  public CacheConfig withMaxConcurrentFetches(int v) {
    return new CacheConfig(dir, budgetBytes, chunkSize, fetchTimeout, v, fetchExecutor, clock, chunkListener, memoryBytes, directIo);
  }

  public CacheConfig withFetchExecutor(Executor v) {
    return new CacheConfig(dir, budgetBytes, chunkSize, fetchTimeout, maxConcurrentFetches, v, clock, chunkListener, memoryBytes, directIo);
  }

  public CacheConfig withClock(LongSupplier v) {
    return new CacheConfig(dir, budgetBytes, chunkSize, fetchTimeout, maxConcurrentFetches, fetchExecutor, v, chunkListener, memoryBytes, directIo);
  }

  public CacheConfig withChunkListener(ChunkListener v) {
    return new CacheConfig(dir, budgetBytes, chunkSize, fetchTimeout, maxConcurrentFetches, fetchExecutor, clock, v, memoryBytes, directIo);
  }

  public CacheConfig withMemoryBytes(long v) {
    return new CacheConfig(dir, budgetBytes, chunkSize, fetchTimeout, maxConcurrentFetches, fetchExecutor, clock,
        chunkListener, v, directIo);
  }

  public CacheConfig withDirectIo(boolean v) {
    return new CacheConfig(dir, budgetBytes, chunkSize, fetchTimeout, maxConcurrentFetches, fetchExecutor, clock,
        chunkListener, memoryBytes, v);
  }
}
