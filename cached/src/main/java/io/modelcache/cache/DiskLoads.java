package io.modelcache.cache;

import io.modelcache.cache.ChunkCache.ChunkRef;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.LongAdder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Warm reads' chunks from the cache files into {@link HotChunks}: one O_DIRECT read of a whole
 * chunk, checked against its CRC32C, and {@link #AHEAD} chunks ahead for a reader walking the file
 * (see {@link ReadPath} for why O_DIRECT, {@link AtRest} for why the check).
 *
 * <p>Threading: any thread; one load per chunk at a time ({@code loading}); the loads ahead run on
 * the cache's executor.
 */
final class DiskLoads {
  private static final Logger LOG = LoggerFactory.getLogger(DiskLoads.class);
  /** Chunks read ahead from disk for a reader walking a cached file (2 × 4 MiB covers disk latency). */
  private static final int AHEAD = 2;
  private final ChunkCache cache;
  private final HotChunks hot;
  private final Executor executor;
  private final long timeoutNanos;
  private final ConcurrentHashMap<ChunkRef, CompletableFuture<Void>> loading;
  private final LongAdder diskLoads;
  private final int align;

  DiskLoads(ChunkCache cache) {
    this.cache = cache;
    this.hot = cache.hot;
    this.executor = cache.executor;
    this.timeoutNanos = cache.timeoutNanos;
    this.loading = cache.loading;
    this.diskLoads = cache.diskLoads;
    this.align = cache.align;
  }

  /** A reader walking the file from disk: the first reader of chunk {@code i} overlaps the next reads with its own. */
  void aheadFrom(Blob b, int i, HotChunks.Entry e) {
    if (e.fromDisk && hot.claimAhead(e) && (i == 0 || b.wasDiskLoaded(i - 1))) {
      loadAhead(b, i);
    }
  }

  /**
   * Reads a whole present chunk from disk with O_DIRECT into memory, checks it against its CRC32C
   * (see {@link AtRest}) and returns it acquired, or null (no room in memory) when the caller should
   * read through the page cache. A chunk that does not match is dropped and {@link DamagedChunk}
   * thrown: the caller fetches it again.
   * Why: a buffered read would give the cache file its own page-cache pages on top of the mount's,
   * the same cost that O_DIRECT writes avoid on the way in. One load per chunk at a time, and once
   * per chunk: a chunk read from disk before and asked for again (the kernel dropped a few of the
   * mount's pages) is read through the page cache, not 4 MiB at a time for each 128 KiB request.
   */
  HotChunks.Entry load(Blob b, int i, ChunkRef ref) throws IOException {
    FileChannel d = b.directChannel();
    int unit = align;
    if (d == null) {
      d = b.channel(); // no O_DIRECT here (tmpfs): a buffered load is still checked before it is served
      unit = 1;
    }
    if (d == null || hot.capacity() < b.chunkSize) {
      return null;
    }
    CompletableFuture<Void> mine = new CompletableFuture<>();
    CompletableFuture<Void> other = loading.putIfAbsent(ref, mine);
    if (other != null) {
      try {
        other.get(timeoutNanos, TimeUnit.NANOSECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new InterruptedIOException("interrupted while reading blob " + b.spec.digest());
      } catch (ExecutionException | TimeoutException e) {
        return null;
      }
      HotChunks.Entry e = hot.acquire(ref);
      if (e == null && !b.isPresentSettled(i)) {
        throw new DamagedChunk(b, i); // the other load found it damaged and dropped it
      }
      return e;
    }
    ByteBuffer buf = hot.take();
    cache.lastDiskLoadNanos = System.nanoTime();
    try {
      int seen = b.gen.get(i); // before the presence test: a drop needs the copy this read reads
      if (!b.isPresentSettled(i)) {
        throw new DamagedChunk(b, i); // dropped as damaged since the reader found it present
      }
      if (!AtRest.matches(b, i, d, buf, unit > 1 ? unit : 0)) {
        throw damaged(b, i, seen);
      }
      int len = b.chunkLen(i);
      b.setChecked(i);
      b.markDiskLoaded(i);
      if (!hot.put(ref, buf, len, false, true)) {
        return null;
      }
      buf = null;
      diskLoads.increment();
      return hot.acquire(ref);
    } finally {
      hot.give(buf);
      loading.remove(ref, mine);
      mine.complete(null);
    }
  }

  /**
   * Checks chunk {@code i} on disk without keeping it in memory, for a read that could not load it
   * ({@link #load} returned null): vouches for it, or drops it and throws {@link DamagedChunk}.
   */
  void checkInPlace(Blob b, int i) throws IOException {
    FileChannel ch = b.channel();
    if (ch == null) {
      throw new IOException("cache file " + b.file + " is closed");
    }
    int seen = b.gen.get(i);
    if (!b.isPresentSettled(i)) {
      throw new DamagedChunk(b, i);
    }
    if (!AtRest.matches(b, i, ch, ByteBuffer.allocateDirect(b.chunkLen(i)), 0)) {
      throw damaged(b, i, seen);
    }
    b.setChecked(i);
  }

  /** Drops the copy {@code seen} of chunk {@code i} found damaged; the exception for its reader. */
  private DamagedChunk damaged(Blob b, int i, int seen) {
    cache.eviction.dropDamaged(b, i, seen);
    return new DamagedChunk(b, i);
  }

  /** Loads the next {@link #AHEAD} present chunks from disk in the background. */
  private void loadAhead(Blob b, int i) {
    for (int k = i + 1; k <= Math.min(b.nChunks - 1, i + AHEAD); k++) {
      ChunkRef r = new ChunkRef(b, k);
      if (!b.isPresent(k) || b.wasDiskLoaded(k) || loading.containsKey(r) || hot.contains(r)) {
        continue;
      }
      int chunk = k;
      try {
        executor.execute(() -> {
          if (b.removed || cache.closed) {
            return;
          }
          b.pins.incrementAndGet(chunk);
          try {
            b.acquire();
            try {
              if (b.isPresent(chunk) && !cache.closed) {
                HotChunks.Entry e = load(b, chunk, r);
                if (e != null) {
                  hot.release(r, e, 0);
                }
              }
            } finally {
              b.release();
            }
          } catch (IOException | RuntimeException e) {
            LOG.debug("reading ahead chunk {} of blob {} from disk: {}", chunk, b.spec.digest(), e.toString());
          } finally {
            b.pins.decrementAndGet(chunk);
          }
        });
      } catch (RejectedExecutionException closedPool) {
        return;
      }
    }
  }
}
