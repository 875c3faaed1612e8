package io.modelcache.cache;

import io.modelcache.cache.ChunkCache.ChunkRef;
import java.io.IOException;
import java.nio.file.Files;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Eviction: LRU at chunk granularity within the byte budget, and dropping single chunks.
 *
 * <p><b>Why LRU at chunk granularity.</b> Models larger than the budget must still work (they just
 * refetch), and the hot parts of a model (embeddings, the first layers during warm-up) should stay
 * while cold ones go. Pinned chunks are never evicted, so usage can exceed the budget only by
 * chunks that readers are actively using.
 *
 * <p><b>Why pin-then-check, and a read/write lock per blob.</b> Readers pin a chunk before testing
 * its bit; eviction clears the bit before testing the pin and puts it back if pinned. With both
 * sides using volatile accesses, either the reader sees the chunk missing (and refetches) or the
 * evictor sees it pinned: bytes under a reader are never punched out. Fetches write under the
 * blob's read lock and eviction punches under its write lock, so a hole can never land on bytes
 * that were just written for a newer copy of the chunk.
 *
 * <p>Threading: one evictor at a time (the cache's evict lock); {@link LruPolicy} is guarded by its
 * own monitor.
 */
final class Eviction {
  private static final Logger LOG = LoggerFactory.getLogger(Eviction.class);
  private final ChunkCache cache;
  private final CacheConfig cfg;
  private final LruPolicy<ChunkRef> policy;
  private final Object evictLock;
  private final AtomicLong used;
  private final LongAdder evictions;
  private final LongAdder evictedBytes;
  private final HotChunks hot;

  Eviction(ChunkCache cache) {
    this.cache = cache;
    this.cfg = cache.cfg;
    this.policy = cache.policy;
    this.evictLock = cache.evictLock;
    this.used = cache.used;
    this.evictions = cache.evictions;
    this.evictedBytes = cache.evictedBytes;
    this.hot = cache.hot;
  }

  void maybeEvict() {
    if (used.get() <= cfg.budgetBytes()) {
      return;
    }
    synchronized (evictLock) {
      while (used.get() > cfg.budgetBytes()) {
        List<ChunkRef> victims;
        synchronized (policy) {
          victims = policy.victims(used.get() - cfg.budgetBytes(),
              r -> r.blob().pins.get(r.index()) > 0,
              r -> r.blob().access.get(r.index()));
        }
        if (victims.isEmpty()) {
          return;
        }
        for (ChunkRef r : victims) {
          dropChunk(r.blob(), r.index(), true);
        }
      }
    }
  }

  /**
   * Removes one chunk: clears its bit (unless a reader pinned it meanwhile), frees its space and
   * persists the change. Returns true if it was removed.
   */
  boolean dropChunk(Blob b, int i, boolean eviction) {
    b.rw.writeLock().lock();
    try {
      if (!b.clearPresent(i)) {
        return false;
      }
      int n = b.chunkLen(i);
      if (b.pins.get(i) > 0) {
        b.setPresent(i);
        synchronized (policy) {
          policy.add(new ChunkRef(b, i), n, b.access.get(i));
        }
        return false;
      }
      used.addAndGet(-n);
      hot.remove(new ChunkRef(b, i));
      synchronized (b.hashLock) {
        if (b.hasher != null && i < b.hashedChunks) {
          b.resetHash(); // what was hashed may come back different: start over
        }
      }
      if (!eviction) {
        synchronized (policy) {
          policy.remove(new ChunkRef(b, i));
        }
      } else {
        evictions.increment();
        evictedBytes.add(n);
      }
      if (b.state == BlobState.COMPLETE) {
        b.state = BlobState.PARTIAL;
        cache.recovery.persistBlob(b);
      }
      boolean deleted = false;
      synchronized (b) {
        if (b.presentCount.get() == 0 && b.users() == 0) {
          try {
            Files.deleteIfExists(b.file);
            deleted = true;
          } catch (IOException e) {
            LOG.warn("cannot delete cache file {}: {}", b.file, e.toString());
          }
        }
      }
      if (!deleted && Files.exists(b.file)) {
        HolePuncher.punch(b.file, b.chunkStart(i), n);
      }
      cache.recovery.persistGroup(b, i >>> 6);
      return true;
    } finally {
      b.rw.writeLock().unlock();
    }
  }
}
