package io.modelcache.cache;

import io.modelcache.cache.ChunkCache.ChunkRef;
import io.modelcache.error.ModelCacheException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.zip.CRC32C;

/**
 * Storing one fetched chunk: its checks, its write to the blob's sparse file, the memory tier, and
 * publishing it to readers (presence bit, LRU, persisted presence group).
 *
 * <p><b>Why O_DIRECT writes and a small memory tier.</b> On the small VMs inference fleets run on,
 * the dominant CPU cost of ingest was not the network or hashing but fresh page-cache pages: a
 * buffered write of a fetched chunk costs the kernel a page allocation and copy per 4 KiB, and the
 * same bytes then get a second set of pages in the mount's own page cache when the reader takes
 * them. Measured on 2 vCPUs: buffered writes of new data cost about 2 CPU-seconds per GiB, O_DIRECT
 * writes about 0.15. So whole-block chunk writes go through O_DIRECT (probed at open; tmpfs and
 * some overlays refuse it and get buffered writes), and the chunk stays in memory
 * ({@link HotChunks}, bounded) until the reader it was fetched for has taken it once.
 *
 * <p><b>Why a chunk is checked before it is published.</b> {@link ChunkListener} sees every chunk
 * after it arrived and before its presence bit is set; a chunk of a verified blob must also match
 * the CRC32C recorded then. Either check rejecting the chunk fails the reads waiting for it.
 *
 * <p>Threading: runs on the fetch tasks of {@link Ingest}, {@link CheckedIngest} and
 * {@link StreamIngest}, under the blob's rw read lock (and its hash lock for the memory tier).
 */
final class ChunkStore {
  private final ChunkCache cache;
  private final CacheConfig cfg;
  private final LruPolicy<ChunkRef> policy;
  private final AtomicLong used;
  private final LongAdder verifyFailures;
  private final HotChunks hot;
  private final int align;

  ChunkStore(ChunkCache cache) {
    this.cache = cache;
    this.cfg = cache.cfg;
    this.policy = cache.policy;
    this.used = cache.used;
    this.verifyFailures = cache.verifyFailures;
    this.hot = cache.hot;
    this.align = cache.align;
  }

  /**
   * Checks, writes, publishes and persists one fetched chunk held in {@code data} (position 0,
   * limit n). Returns true if the in-memory tier kept the buffer (the caller needs a new one).
   */
  boolean storeChunk(Fetch f, Pending p, ByteBuffer data, int n) throws IOException {
    return store(f, p, data, n, true, false);
  }

  /**
   * Checks and writes one fetched chunk; with {@code publish} also makes it visible to readers (else
   * it stays invisible until {@link #publish}: its granule of the chunk index is not checked yet).
   * {@code indexVerified}: it passed the index check. Returns true if memory kept the buffer.
   */
  boolean store(Fetch f, Pending p, ByteBuffer data, int n, boolean publish, boolean indexVerified) throws IOException {
    Blob b = f.blob;
    int i = p.chunk;
    if (f.isDone() || cache.closed) {
      throw new IOException("fetch of blob " + b.spec.digest() + " was aborted");
    }
    CRC32C c = new CRC32C();
    c.update(data.duplicate());
    int crc = (int) c.getValue();
    if (b.trusted && crc != b.crc[i]) {
      verifyFailures.increment();
      throw ModelCacheException.digestMismatch("chunk " + i + " of blob " + b.spec.digest()
          + " does not match the checksum recorded when the blob was verified");
    }
    cfg.chunkListener().accepted(b.spec, i, data.asReadOnlyBuffer());
    boolean kept = false;
    b.rw.readLock().lock();
    try {
      checkLive(b);
      write(b, i, data.duplicate());
      b.crc[i] = crc;
      b.dirty = true;
      if (publish) {
        kept = admit(b, i, data, n, f.priority);
        publishLocked(b, i, n, f.priority, indexVerified);
      }
    } finally {
      b.rw.readLock().unlock();
    }
    if (publish) {
      published(f, p);
    }
    return kept;
  }

  /** Makes a chunk written by {@link #store} without publishing visible, once its granule passed. */
  void publish(Fetch f, Pending p, boolean indexVerified) throws IOException {
    Blob b = f.blob;
    b.rw.readLock().lock();
    try {
      checkLive(b);
      publishLocked(b, p.chunk, b.chunkLen(p.chunk), f.priority, indexVerified);
    } finally {
      b.rw.readLock().unlock();
    }
    published(f, p);
  }

  private static void checkLive(Blob b) throws IOException {
    if (b.removed) {
      throw new IOException("blob " + b.key + " was evicted while fetching");
    }
    if (b.state == BlobState.FAILED) {
      throw Verifier.failure(b);
    }
  }

  /** Sets the presence bit (which publishes the bytes and CRC written before it). Caller holds rw read. */
  private void publishLocked(Blob b, int i, int n, FetchPriority priority, boolean indexVerified) {
    if (indexVerified) {
      b.setIndexVerified(i);
    }
    b.setChecked(i); // written just now from memory that passed the checks
    if (!b.isPresent(i)) {
      b.gen.incrementAndGet(i); // before the bit: a check that sees this copy present reads its generation
    }
    if (b.setPresent(i)) {
      used.addAndGet(n);
      synchronized (policy) {
        if (priority == FetchPriority.FILL) {
          // Fill brings in what nobody asked for yet: first in line for eviction, so it never
          // pushes out chunks a reader is using.
          policy.add(new ChunkRef(b, i), n, 0L);
        } else {
          policy.add(new ChunkRef(b, i), n);
        }
      }
      if (priority != FetchPriority.DEMAND) {
        b.setPrefetched(i);
      }
    }
  }

  private void published(Fetch f, Pending p) {
    cache.recovery.persistGroup(f.blob, p.chunk >>> 6);
    f.chunkDone(p);
    if (used.get() > cfg.budgetBytes()) {
      cache.eviction.maybeEvict();
    }
  }

  /** Writes chunk i: whole file-system blocks through O_DIRECT (no page-cache pages), else buffered. */
  void write(Blob b, int i, ByteBuffer src) throws IOException {
    long pos = b.chunkStart(i);
    FileChannel direct = b.directChannel();
    FileChannel ch = direct != null && src.remaining() % align == 0 && src.isDirect() ? direct : b.channel();
    while (src.hasRemaining()) {
      pos += ch.write(src, pos);
    }
  }

  /**
   * Feeds chunk i to the blob's in-order hash if it is the next one (then any later chunks still in
   * memory), and decides whether memory keeps the buffer: for the reader it was fetched for, or
   * while the hash has not reached it. Under the blob's hash lock, so that a chunk that arrives
   * early is either found in memory by the catch-up or hashed when its turn comes. Returns true if
   * memory took the buffer.
   */
  private boolean admit(Blob b, int i, ByteBuffer data, int n, FetchPriority prio) {
    synchronized (b.hashLock) {
      boolean awaitingHash = b.hasher != null && i > b.hashedChunks;
      if (b.hasher != null && i == b.hashedChunks) {
        b.hasher.update(data.duplicate());
        b.hashedChunks++;
        while (b.hashedChunks < b.nChunks) {
          ChunkRef next = new ChunkRef(b, b.hashedChunks);
          HotChunks.Entry e = hot.acquire(next);
          if (e == null) {
            break;
          }
          try {
            b.hasher.update(e.slice(0, e.length));
            b.hashedChunks++;
          } finally {
            hot.hashed(next, e);
            hot.release(next, e, 0);
          }
        }
      }
      return (prio != FetchPriority.FILL || awaitingHash) && hot.put(new ChunkRef(b, i), data, n, awaitingHash);
    }
  }
}
