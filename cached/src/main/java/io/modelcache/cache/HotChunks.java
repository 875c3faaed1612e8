package io.modelcache.cache;

import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Chunks that just arrived from upstream, kept in memory until a reader has taken them once, plus
 * the pool of page-aligned direct buffers that fetches read into.
 *
 * <p>Why: the chunk cache writes its files with O_DIRECT (see {@link ChunkCache}), so a chunk that
 * was just fetched is not in the page cache. The reader it was fetched for (or read ahead for)
 * gets its bytes from here instead of from disk. Once the whole chunk has been served it is dropped:
 * the kernel now holds those pages in the mount's own page cache, and a later miss reads the disk.
 * The tier is bounded in bytes; when read-ahead runs far ahead of a slow reader the oldest chunks
 * go first (their bytes are on disk already, so nothing is lost but a disk read).
 *
 * <p>Thread-safe: one monitor. An entry handed out by {@link #acquire} keeps its buffer until
 * {@link #release}d, even if the entry is dropped meanwhile (the buffer is recycled only then).
 */
final class HotChunks {
  /** One chunk in memory. The buffer's bytes never change while the entry is reachable. */
  static final class Entry {
    final ByteBuffer buf;
    final int length;
    private int refs;
    private long served;
    private boolean dropped;
    /** The blob's in-order hash has not reached this chunk yet: keep it even once served. */
    private boolean awaitingHash;
    /** Read from the cache file (not fetched): a reader on it may want the next chunks from disk. */
    final boolean fromDisk;
    private boolean aheadClaimed;

    Entry(ByteBuffer buf, int length, boolean awaitingHash, boolean fromDisk) {
      this.buf = buf;
      this.length = length;
      this.awaitingHash = awaitingHash;
      this.fromDisk = fromDisk;
    }

    /** A read-only view of the chunk's bytes {@code [from, from + n)}. */
    ByteBuffer slice(int from, int n) {
      return buf.slice(from, n).asReadOnlyBuffer();
    }
  }

  private final int bufferSize;
  private final int align;
  private final long capacity;
  private final int poolMax;
  private final LinkedHashMap<ChunkCache.ChunkRef, Entry> entries = new LinkedHashMap<>();
  private final ArrayDeque<ByteBuffer> pool = new ArrayDeque<>();
  private long bytes;

  /**
   * @param bufferSize the chunk size (every buffer holds one chunk)
   * @param align buffer address alignment (the file system's block size, for O_DIRECT)
   * @param capacity most bytes of chunks kept; 0 keeps none (buffers are still pooled)
   * @param poolMax idle buffers always kept for reuse (more while they fit in {@code capacity})
   */
  HotChunks(int bufferSize, int align, long capacity, int poolMax) {
    this.bufferSize = bufferSize;
    this.align = align;
    this.capacity = capacity;
    this.poolMax = poolMax;
  }

  /** A buffer of one chunk's capacity, from the pool or new. Give it back or {@link #put} it. */
  ByteBuffer take() {
    synchronized (this) {
      ByteBuffer b = pool.poll();
      if (b != null) {
        return b.clear();
      }
    }
    return ByteBuffer.allocateDirect(bufferSize + align).alignedSlice(align).limit(bufferSize);
  }

  /** Returns a buffer nobody references any more. */
  synchronized void give(ByteBuffer b) {
    if (b != null) {
      recycle(b);
    }
  }

  /**
   * Caller holds the monitor. Keeps an idle buffer for the next {@link #take} while the idle buffers
   * and the chunks in memory together fit in the tier's capacity (and always up to {@code poolMax}).
   * A 64 MiB fetch takes 16 buffers at once and its chunks leave memory together once served; a
   * pool of {@code poolMax} dropped most of them, and every new direct buffer is zeroed by the JDK
   * (6% of a fetch thread's CPU in a 4 GiB cold read) and lingers until a GC frees it.
   */
  private void recycle(ByteBuffer b) {
    if (pool.size() < poolMax || (long) (pool.size() + 1) * bufferSize + bytes <= capacity) {
      pool.push(b);
    }
  }

  /**
   * Keeps {@code buf} (flipped, holding chunk {@code ref}) in memory; the tier owns it from now on.
   * With {@code awaitingHash} it stays after being served, until {@link #hashed}. Returns false,
   * and does not take the buffer, when the tier keeps nothing.
   */
  boolean put(ChunkCache.ChunkRef ref, ByteBuffer buf, int length, boolean awaitingHash) {
    return put(ref, buf, length, awaitingHash, false);
  }

  /** As {@link #put(ChunkCache.ChunkRef, ByteBuffer, int, boolean)}, marking a chunk read from disk. */
  boolean put(ChunkCache.ChunkRef ref, ByteBuffer buf, int length, boolean awaitingHash, boolean fromDisk) {
    if (capacity < length) {
      return false;
    }
    List<ByteBuffer> freed = new ArrayList<>();
    synchronized (this) {
      Entry old = entries.put(ref, new Entry(buf, length, awaitingHash, fromDisk));
      if (old != null) {
        unlink(old, freed);
      }
      bytes += length;
      Iterator<Entry> it = entries.values().iterator();
      while (bytes > capacity && it.hasNext()) {
        Entry e = it.next();
        it.remove();
        unlink(e, freed);
      }
      for (ByteBuffer b : freed) {
        recycle(b);
      }
    }
    return true;
  }

  /** The chunk's entry, referenced until {@link #release}; null if it is not in memory. */
  synchronized Entry acquire(ChunkCache.ChunkRef ref) {
    Entry e = entries.get(ref);
    if (e != null) {
      e.refs++;
    }
    return e;
  }

  /** Ends a reference; {@code servedBytes} went to a reader (a chunk served in full is dropped). */
  synchronized void release(ChunkCache.ChunkRef ref, Entry e, int servedBytes) {
    e.refs--;
    e.served += servedBytes;
    dropIfDone(ref, e);
  }

  /** True once per entry: the first reader of a chunk read from disk starts loading the next ones. */
  synchronized boolean claimAhead(Entry e) {
    if (!e.fromDisk || e.aheadClaimed) {
      return false;
    }
    e.aheadClaimed = true;
    return true;
  }

  synchronized boolean contains(ChunkCache.ChunkRef ref) {
    return entries.containsKey(ref);
  }

  /** The blob's in-order hash has taken this chunk (a reference held by the caller). */
  synchronized void hashed(ChunkCache.ChunkRef ref, Entry e) {
    e.awaitingHash = false;
    dropIfDone(ref, e);
  }

  private void dropIfDone(ChunkCache.ChunkRef ref, Entry e) {
    if (!e.dropped && !e.awaitingHash && e.served >= e.length && entries.get(ref) == e) {
      entries.remove(ref);
      e.dropped = true;
      bytes -= e.length;
    }
    if (e.dropped && e.refs == 0) {
      recycle(e.buf);
    }
  }

  /** Forgets the chunk (it was evicted or its blob dropped). */
  synchronized void remove(ChunkCache.ChunkRef ref) {
    Entry e = entries.remove(ref);
    if (e != null) {
      List<ByteBuffer> freed = new ArrayList<>(1);
      unlink(e, freed);
      for (ByteBuffer b : freed) {
        give(b);
      }
    }
  }

  /** Forgets every chunk of {@code blob}. */
  synchronized void removeBlob(Blob blob) {
    List<ByteBuffer> freed = new ArrayList<>();
    Iterator<Map.Entry<ChunkCache.ChunkRef, Entry>> it = entries.entrySet().iterator();
    while (it.hasNext()) {
      Map.Entry<ChunkCache.ChunkRef, Entry> m = it.next();
      if (m.getKey().blob() == blob) {
        it.remove();
        unlink(m.getValue(), freed);
      }
    }
    for (ByteBuffer b : freed) {
      give(b);
    }
  }

  long capacity() {
    return capacity;
  }

  synchronized long bytes() {
    return bytes;
  }

  synchronized int size() {
    return entries.size();
  }

  /** Caller holds the monitor and has removed {@code e} from the map. */
  private void unlink(Entry e, List<ByteBuffer> freed) {
    if (e.dropped) {
      return;
    }
    e.dropped = true;
    bytes -= e.length;
    if (e.refs == 0) {
      freed.add(e.buf);
    }
  }
}
