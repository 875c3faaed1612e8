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
 * <p><b>Why a whole-file pin, and why it moves the file to the back of the line.</b> A complete,
 * verified cache file handed to the kernel for passthrough ({@link PinnedFile}) is read without
 * the daemon seeing a single read, so chunk pins and access stamps cannot protect it. While such a
 * pin is open, eviction skips every chunk of the blob and counts the skip; a skipped chunk goes to
 * the most-recent end of the order (it is in use right now, and leaving it at the head would make
 * every later pass walk the whole pinned file again). Pinning follows the same pin-then-check rule
 * as readers: the pin is raised first, then the blob is checked complete under its read lock, while
 * eviction clears a chunk's bit under the write lock and then tests the pin; so either the pin sees
 * the blob incomplete (no passthrough) or eviction sees the pin (the chunk stays). Only eviction
 * defers to the pin: a chunk found corrupt on disk is still dropped and fetched again at once
 * ({@link PinnedRepair}), its bytes left in place (no hole) until the new copy is written over
 * them, since the kernel reads the file without asking the daemon (a spliced daemon-path read
 * of it turns to the daemon's own reads meanwhile). Releasing the pin stamps every chunk as just
 * used.
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
  private final LongAdder skipped;

  Eviction(ChunkCache cache) {
    this.cache = cache;
    this.cfg = cache.cfg;
    this.policy = cache.policy;
    this.evictLock = cache.evictLock;
    this.used = cache.used;
    this.evictions = cache.evictions;
    this.evictedBytes = cache.evictedBytes;
    this.hot = cache.hot;
    this.skipped = cache.evictionsSkipped;
  }

  void maybeEvict() {
    if (used.get() <= cfg.budgetBytes() || cache.evictionHeld) {
      return;
    }
    synchronized (evictLock) {
      while (used.get() > cfg.budgetBytes()) {
        List<ChunkRef> victims;
        synchronized (policy) {
          victims = policy.victims(used.get() - cfg.budgetBytes(),
              r -> r.blob().pins.get(r.index()) > 0,
              r -> {
                if (r.blob().filePins.get() > 0) {
                  skipped.increment();
                  return true;
                }
                return false;
              },
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
    return drop(b, i, eviction, false, 0);
  }

  /**
   * Removes a chunk whose bytes on disk no longer match its CRC32C, even under readers' pins: what
   * they would read there is wrong either way. Only the copy the check read goes: {@code seenGen}
   * is {@link Blob#gen} as the check found it before reading, and a copy published since then
   * stays. The generation is bumped before the hole is punched, so a pinned reader that copied the
   * damage or the hole sees it and reads again (the chunk is fetched anew). Counts the chunk in
   * {@code corruptChunks} and logs it; true if it was removed here. A chunk of a file the kernel
   * reads in passthrough is fetched again at once: the kernel does not ask the daemon for it.
   */
  boolean dropDamaged(Blob b, int i, int seenGen) {
    if (!drop(b, i, false, true, seenGen)) {
      return false;
    }
    cache.corruptChunks.increment();
    LOG.warn("chunk {} of blob {} no longer matches its checksum in {}: dropped, it is fetched again",
        i, b.spec.digest(), b.file);
    cache.pinnedRepair.fetchMissing(b, b.lastFetcher);
    return true;
  }

  /** Removes every present chunk of a blob whose cache file is gone; counts them; returns how many. */
  int dropMissing(Blob b) {
    int n = 0;
    for (int i = 0; i < b.nChunks; i++) {
      if (b.isPresent(i) && drop(b, i, false, true, b.gen.get(i))) {
        n++;
      }
    }
    if (n > 0) {
      cache.corruptChunks.add(n);
      LOG.warn("cache file {} of blob {} is missing: its {} chunk(s) are dropped and fetched again",
          b.file, b.spec.digest(), n);
    }
    return n;
  }

  /** Drops chunk {@code i}; {@code damaged}: even under pins, and only while its generation is {@code seenGen}. */
  private boolean drop(Blob b, int i, boolean eviction, boolean damaged, int seenGen) {
    b.rw.writeLock().lock();
    try {
      if ((damaged && b.gen.get(i) != seenGen) || !b.clearPresent(i)) {
        return false; // a check of an older copy: this one was published since
      }
      int n = b.chunkLen(i);
      boolean filePinned = eviction && b.filePins.get() > 0;
      if (!damaged && (b.pins.get(i) > 0 || filePinned)) {
        b.setPresent(i);
        if (filePinned) {
          skipped.increment();
        }
        synchronized (policy) {
          policy.add(new ChunkRef(b, i), n, filePinned ? cfg.clock().getAsLong() : b.access.get(i));
        }
        return false;
      }
      b.gen.incrementAndGet(i); // before the hole: a pinned reader of a damaged chunk sees it and reads again
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
      // A file the kernel reads in passthrough keeps a damaged chunk's bytes until the new copy is
      // written over them: a hole there would read as zeros, which are no better.
      if (!deleted && !(damaged && b.filePins.get() > 0) && Files.exists(b.file)) {
        HolePuncher.punch(b.file, b.chunkStart(i), n);
      }
      cache.recovery.persistGroup(b, i >>> 6);
      return true;
    } finally {
      b.rw.writeLock().unlock();
    }
  }

  /**
   * Pins a complete, verified blob's file for a reader outside the daemon; null when the blob is
   * not complete and verified now, is empty, or its file is not exactly the file's length. Also
   * null while some chunk's bytes on disk were not written or read back by this process
   * ({@link Blob#checked}): the kernel would serve them unchecked, so this queues a background
   * read-back, and a later open gets the pin.
   */
  PinnedFile pinFile(Blob b) {
    long len = b.contentLength();
    if (len == 0 || b.state != BlobState.COMPLETE) {
      return null; // cheap early refusal; the real check is below, after the pin
    }
    if (!b.allChecked()) {
      cache.atRest.checkInBackground(b, false);
      return null;
    }
    if (!raisePin(b)) {
      return null;
    }
    boolean ok;
    b.rw.readLock().lock();
    try {
      ok = b.state == BlobState.COMPLETE && b.allPresent() && !b.removed && fileLength(b) == len;
    } finally {
      b.rw.readLock().unlock();
    }
    if (!ok) {
      unpin(b);
      return null;
    }
    return new PinnedFile(b.file, len, () -> unpin(b));
  }

  /**
   * Pins the file of a blob the kernel reads in passthrough already (a connection taken over from
   * the previous daemon), whatever its state: the pin keeps eviction away, and the daemon makes the
   * file whole and right behind the kernel's back, since the kernel will not ask it for a chunk.
   * Chunks missing (dropped at start after an unclean stop) are fetched at once; the read-back of
   * the rest goes first in line, and a damaged chunk it finds is fetched again at once. Null only
   * for an empty or removed blob, or a file that cannot be opened.
   */
  PinnedFile pinFileInUse(Blob b, BlobFetcher fetcher) {
    long len = b.contentLength();
    if (len == 0 || b.removed || !raisePin(b)) {
      return null;
    }
    cache.pinnedRepair.fetchMissing(b, fetcher);
    cache.atRest.checkInBackground(b, true);
    return new PinnedFile(b.file, len, () -> unpin(b));
  }

  private boolean raisePin(Blob b) {
    b.addHandle(); // an explicit evict of the key refuses while the pin is open
    try {
      b.acquire(); // and the blob file is not deleted when its last reader goes
    } catch (IOException e) {
      b.removeHandle();
      LOG.debug("cannot pin cache file {}: {}", b.file, e.toString());
      return false;
    }
    b.filePins.incrementAndGet();
    return true;
  }

  private void unpin(Blob b) {
    long now = cfg.clock().getAsLong();
    for (int i = 0; i < b.nChunks; i++) {
      b.touch(i, now); // read all along by the kernel, unseen: as recent as it gets
    }
    b.lastAccess = Math.max(b.lastAccess, now);
    b.filePins.decrementAndGet();
    b.release();
    cache.handleClosed(b);
    if (used.get() > cfg.budgetBytes() && !cache.closed) {
      maybeEvict(); // what the pin held back may go now
    }
  }

  private static long fileLength(Blob b) {
    try {
      return Files.size(b.file);
    } catch (IOException e) {
      return -1;
    }
  }
}
